/*
 * complete.c -- tab completion of Lua names for readline.
 *
 *   na<TAB>       globals and keywords
 *   a.b.c<TAB>    fields of a.b (and of the tables its metatable's __index
 *                 chain leads to: modules, classes)
 *   x:me<TAB>     methods: functions among those fields, and the functions
 *                 of getmetatable(x).__methods (arrays)
 *   x.sh<TAB>     the fields of an array x (shape, dtype, ...)
 *   f(x):me<TAB>  after an expression that is not a name, array methods
 *
 * Names starting with "_" (ty.__doc, a module's private m._order) are
 * offered only for a part that starts with "_".
 *
 * Inside a string literal, file names are completed instead. Lookups run in
 * protected mode: a failing __index means no candidates, never a crash.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include <readline/readline.h>

#include "../lua/binding.h"
#include "repl.h"

/* The fields of an array (lua/array.c), offered after "x.". */
static const char *const array_fields[] = {
    "shape", "dtype", "ndim", "size", "device", "T", NULL
};

/* Depth of the __index chain followed, against cycles. */
#define INDEX_CHAIN_MAX 8

static lua_State *complete_state;

/* The candidates of the current completion, handed out one by one. */
static char **candidates;
static size_t candidate_count, candidate_next;
/* Length of the text before the last component ("a.b." in "a.b.c"). */
static size_t shown_offset;

static const char *const keywords[] = {
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
    "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
    "true", "until", "while", NULL
};

static bool is_name_char(char c, bool first)
{
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (!first && c >= '0' && c <= '9');
}

static bool is_identifier(const char *s, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!is_name_char(s[i], i == 0)) return false;
    return true;
}

/* Adds prefix..name to the result table at index 1 of the collector's
 * stack (a set: name -> true). */
static void add_candidate(lua_State *L, const char *prefix, const char *name)
{
    lua_pushfstring(L, "%s%s", prefix, name);
    lua_pushboolean(L, 1);
    lua_rawset(L, 1);
}

/* Adds the string keys of table t starting with `part` (functions only if
 * methods_only). */
static void add_keys(lua_State *L, int t, const char *prefix, const char *part,
                     bool methods_only)
{
    size_t plen = strlen(part);
    t = lua_absindex(L, t);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            size_t klen;
            const char *key = lua_tolstring(L, -2, &klen);
            if (klen >= plen && strncmp(key, part, plen) == 0 && is_identifier(key, klen)
                && strlen(key) == klen && (key[0] != '_' || part[0] == '_')
                && (!methods_only || lua_type(L, -1) == LUA_TFUNCTION))
                add_candidate(L, prefix, key);
        }
        lua_pop(L, 1);
    }
}

/* Adds the fields of the value at idx: its own (a table), the
 * metatable's __methods (methods only), then the __index chain. */
static void add_fields(lua_State *L, int idx, const char *prefix, const char *part,
                       bool methods_only)
{
    if (!methods_only && luaL_testudata(L, idx, LTY_ARRAY_MT)) {
        size_t plen = strlen(part);
        for (int i = 0; array_fields[i]; i++)
            if (strncmp(array_fields[i], part, plen) == 0)
                add_candidate(L, prefix, array_fields[i]);
        return;
    }
    lua_pushvalue(L, idx);
    for (int depth = 0; depth < INDEX_CHAIN_MAX; depth++) {
        if (lua_type(L, -1) == LUA_TTABLE) add_keys(L, -1, prefix, part, methods_only);
        if (!lua_getmetatable(L, -1)) break;
        lua_pushliteral(L, "__methods");
        if (methods_only && lua_rawget(L, -2) == LUA_TTABLE)
            add_keys(L, -1, prefix, part, true);
        lua_pop(L, 1);
        lua_pushliteral(L, "__index");
        lua_rawget(L, -2);
        lua_remove(L, -2);             /* the metatable */
        lua_remove(L, -2);             /* the previous value */
        if (lua_type(L, -1) != LUA_TTABLE) break;
    }
    lua_pop(L, 1);
}

/* lua_CFunction(results, text): fills results with the candidates. */
static int collect(lua_State *L)
{
    const char *text = luaL_checkstring(L, 2);
    const char *sep = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':') sep = p;
    if (!sep) {
        lua_pushglobaltable(L);
        add_fields(L, -1, "", text, false);
        size_t n = strlen(text);
        for (int i = 0; keywords[i]; i++)
            if (strncmp(keywords[i], text, n) == 0) add_candidate(L, "", keywords[i]);
        return 0;
    }
    if (sep == text) {
        /* ":me" after a call or an index: the receiver is not a name, so
         * offer the array methods (never globals) */
        if (*sep == ':' && luaL_getmetatable(L, LTY_ARRAY_MT) == LUA_TTABLE
            && lua_getfield(L, -1, "__methods") == LUA_TTABLE)
            add_keys(L, -1, ":", text + 1, true);
        return 0;
    }
    /* resolve the path before sep: identifiers separated by '.' */
    lua_pushglobaltable(L);
    const char *p = text;
    while (p < sep) {
        const char *dot = memchr(p, '.', (size_t)(sep - p));
        const char *end = dot ? dot : sep;
        if (!is_identifier(p, (size_t)(end - p))) return 0;
        int type = lua_type(L, -1);
        if (type != LUA_TTABLE && !lua_getmetatable(L, -1)) return 0;
        if (type != LUA_TTABLE) lua_pop(L, 1);
        lua_pushlstring(L, p, (size_t)(end - p));
        lua_gettable(L, -2);
        lua_remove(L, -2);
        p = end + 1;
    }
    if (lua_isnil(L, -1)) return 0;
    lua_pushlstring(L, text, (size_t)(sep - text) + 1);
    const char *prefix = lua_tostring(L, -1);
    add_fields(L, -2, prefix, sep + 1, *sep == ':');
    return 0;
}

static void free_candidates(void)
{
    for (size_t i = candidate_next; i < candidate_count; i++) free(candidates[i]);
    free(candidates);
    candidates = NULL;
    candidate_count = candidate_next = 0;
}

/* Runs collect() and copies its results into `candidates`. */
static void gather(const char *text)
{
    lua_State *L = complete_state;
    free_candidates();
    int top = lua_gettop(L);
    if (!lua_checkstack(L, 8)) return;
    lua_newtable(L);
    int results = lua_gettop(L);
    lua_pushcfunction(L, collect);
    lua_pushvalue(L, results);
    lua_pushstring(L, text);
    if (lua_pcall(L, 2, 0, 0) == LUA_OK) {
        size_t n = 0;
        lua_pushnil(L);
        while (lua_next(L, results)) {
            n++;
            lua_pop(L, 1);
        }
        candidates = calloc(n ? n : 1, sizeof *candidates);
        lua_pushnil(L);
        while (candidates && lua_next(L, results)) {
            char *s = strdup(lua_tostring(L, -2));
            if (s) candidates[candidate_count++] = s;
            lua_pop(L, 1);
        }
    }
    lua_settop(L, top);
}

static char *generator(const char *text, int state)
{
    if (state == 0) {
        gather(text);
        candidate_next = 0;
    }
    if (candidate_next < candidate_count) return candidates[candidate_next++];
    return NULL;
}

static char **attempt(const char *text, int start, int end)
{
    (void)start;
    (void)end;
    shown_offset = 0;
    if (rl_completion_quote_character) return NULL;   /* file names in strings */
    rl_attempted_completion_over = 1;
    rl_completion_append_character = '\0';
    const char *last = NULL;
    for (const char *p = text; *p; p++)
        if (*p == '.' || *p == ':') last = p;
    shown_offset = last ? (size_t)(last - text) + 1 : 0;
    return rl_completion_matches(text, generator);
}

/* Lists candidates by their last component ("matmul", not "ty.matmul"). */
static void display(char **matches, int n, int max_length)
{
    (void)max_length;
    char **shown = malloc(((size_t)n + 2) * sizeof *shown);
    if (!shown) return;
    int longest = 0;
    for (int i = 0; i <= n; i++) {
        size_t len = strlen(matches[i]);
        shown[i] = matches[i] + (len >= shown_offset ? shown_offset : len);
        int w = (int)strlen(shown[i]);
        if (i > 0 && w > longest) longest = w;
    }
    shown[n + 1] = NULL;
    rl_display_match_list(shown, n, longest);
    rl_forced_update_display();
    free(shown);
}

/* Word boundaries: Lua's operators and brackets in code; only blanks and
 * the quote inside a string (so that a path is one word). */
static char *word_breaks(void)
{
    static char code[] = " \t\n\"\\'`@$><=;|&{}()[],+-*/%^~#";
    static char string[] = " \t\n\"'";
    char quote = 0;
    for (int i = 0; i < rl_point && rl_line_buffer[i]; i++) {
        char c = rl_line_buffer[i];
        if (quote && c == '\\' && rl_line_buffer[i + 1]) i++;
        else if (quote && c == quote) quote = 0;
        else if (!quote && (c == '"' || c == '\'')) quote = c;
    }
    return quote ? string : code;
}

void repl_complete_init(lua_State *L)
{
    complete_state = L;
    rl_attempted_completion_function = attempt;
    rl_completion_display_matches_hook = display;
    rl_completion_word_break_hook = word_breaks;
    rl_completer_quote_characters = "\"'";
}
