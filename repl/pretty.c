/*
 * pretty.c -- how the REPL shows a value, as trepl does: Lua tables as table
 * constructors ({2, 3}, {active = 0, limit = 8}), with sorted keys, nested
 * tables indented when they do not fit on one line, cycles and deep nesting
 * cut short, long tables truncated, and arrays inside tables by their short
 * form array(shape=(2,3), dtype=float32). Anything else prints as tostring.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../lua/array.h"
#include "repl.h"
#include "tycho.h"

#define PRETTY_WIDTH 80        /* a table fitting in this many columns: one line */
#define PRETTY_DEPTH 6         /* deeper tables print as {...} */
#define PRETTY_ITEMS 100       /* entries shown per table */
#define PRETTY_SORT_MAX 2000   /* more keys than this are shown unsorted */

static bool is_identifier(const char *s, size_t n)
{
    static const char *const keywords[] = {
        "and", "break", "do", "else", "elseif", "end", "false", "for", "function",
        "goto", "if", "in", "local", "nil", "not", "or", "repeat", "return", "then",
        "true", "until", "while", NULL
    };
    if (n == 0 || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9')))
            return false;
    }
    for (int i = 0; keywords[i]; i++)
        if (strlen(keywords[i]) == n && memcmp(keywords[i], s, n) == 0) return false;
    return true;
}

/* Pushes the string at idx as a Lua literal: "a\n\"b\"". */
static void push_quoted(lua_State *L, int idx)
{
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        switch (c) {
        case '"': luaL_addstring(&b, "\\\""); break;
        case '\\': luaL_addstring(&b, "\\\\"); break;
        case '\n': luaL_addstring(&b, "\\n"); break;
        case '\t': luaL_addstring(&b, "\\t"); break;
        case '\r': luaL_addstring(&b, "\\r"); break;
        default:
            if (c < 32 || c == 127) {
                snprintf(esc, sizeof esc, "\\%d", c);
                luaL_addstring(&b, esc);
            } else {
                luaL_addchar(&b, (char)c);
            }
        }
    }
    luaL_addchar(&b, '"');
    luaL_pushresult(&b);
}

/* Pushes the short form of the array userdata at idx. */
static void push_array_short(lua_State *L, lty_box *box)
{
    if (!box->a) {
        lua_pushliteral(L, "array(<released>)");
        return;
    }
    char shape[160], device[32] = "";
    lty_shape_tuple(ty_ndim(box->a), ty_shape(box->a), shape, sizeof shape);
    ty_device d = ty_device_of(box->a);
    if (d.kind != TY_CPU) {
        char name[24];
        snprintf(device, sizeof device, ", device=%s",
                 ty_device_string(d, name, sizeof name));
    }
    lua_pushfstring(L, "array(shape=%s, dtype=%s%s)", shape,
                    ty_dtype_name(ty_dtype_of(box->a)), device);
}

/* A key of the table being shown, for sorting. */
typedef struct key_ref {
    int rank;                          /* numbers, strings, booleans, others */
    double num;
    const char *str;
    int slot;                          /* its index in the keys table */
} key_ref;

static int key_cmp(const void *pa, const void *pb)
{
    const key_ref *a = pa, *b = pb;
    if (a->rank != b->rank) return a->rank - b->rank;
    if (a->rank == 0) return a->num < b->num ? -1 : a->num > b->num;
    if (a->rank == 1) return strcmp(a->str, b->str);
    return a->slot - b->slot;
}

static void push_value(lua_State *L, int idx, int indent, int depth, int seen);

/* Pushes "key = " for a non-sequence key at idx. */
static void push_key(lua_State *L, int idx, int indent, int depth, int seen)
{
    size_t n;
    if (lua_type(L, idx) == LUA_TSTRING) {
        const char *s = lua_tolstring(L, idx, &n);
        if (is_identifier(s, n) && strlen(s) == n) {
            lua_pushfstring(L, "%s = ", s);
            return;
        }
    }
    push_value(L, idx, indent, depth, seen);
    lua_pushfstring(L, "[%s] = ", lua_tostring(L, -1));
    lua_remove(L, -2);
}

/* Pushes the entries of table t as strings (count returned in *n, the
 * number left out in *more). */
static void push_entries(lua_State *L, int t, int indent, int depth, int seen, int *n,
                         lua_Integer *more, bool *keyed)
{
    int base = lua_gettop(L);
    lua_Integer seq = 0, total = 0;
    while (lua_rawgeti(L, t, seq + 1) != LUA_TNIL) {
        lua_pop(L, 1);
        seq++;
    }
    lua_pop(L, 1);
    /* the other keys, into a sequence (anchors them) */
    lua_newtable(L);
    int keys = lua_gettop(L);
    int nkeys = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        lua_pop(L, 1);
        if (lua_isinteger(L, -1)) {
            lua_Integer k = lua_tointeger(L, -1);
            if (k >= 1 && k <= seq) continue;
        }
        lua_pushvalue(L, -1);
        lua_rawseti(L, keys, ++nkeys);
    }
    total = seq + nkeys;
    *keyed = nkeys > 0;
    int shown = 0;
    for (lua_Integer i = 1; i <= seq && shown < PRETTY_ITEMS; i++, shown++) {
        luaL_checkstack(L, 4, "table too large to show");
        lua_rawgeti(L, t, i);
        push_value(L, -1, indent, depth, seen);
        lua_remove(L, -2);
        lua_insert(L, keys);           /* entries stay below the keys table */
        keys++;
    }
    if (shown < PRETTY_ITEMS && nkeys > 0) {
        int want = PRETTY_ITEMS - shown;
        key_ref *refs = lua_newuserdatauv(L, sizeof *refs * (size_t)nkeys, 0);
        int refs_idx = lua_gettop(L);
        for (int i = 0; i < nkeys; i++) {
            lua_rawgeti(L, keys, i + 1);
            int type = lua_type(L, -1);
            refs[i].rank = type == LUA_TNUMBER ? 0 : type == LUA_TSTRING ? 1
                         : type == LUA_TBOOLEAN ? 2 : 3;
            refs[i].num = type == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
            refs[i].str = type == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            refs[i].slot = i + 1;
            lua_pop(L, 1);             /* strings stay anchored by keys */
        }
        if (nkeys <= PRETTY_SORT_MAX) qsort(refs, (size_t)nkeys, sizeof *refs, key_cmp);
        for (int i = 0; i < nkeys && i < want; i++, shown++) {
            luaL_checkstack(L, 6, "table too large to show");
            lua_rawgeti(L, keys, refs[i].slot);
            int k = lua_gettop(L);
            push_key(L, k, indent, depth, seen);
            lua_pushvalue(L, k);
            lua_rawget(L, t);
            push_value(L, -1, indent, depth, seen);
            lua_remove(L, -2);
            lua_concat(L, 2);
            lua_remove(L, k);
            lua_insert(L, keys);
            keys++;
            refs_idx++;
        }
        lua_remove(L, refs_idx);
    }
    lua_remove(L, keys);
    *n = lua_gettop(L) - base;
    *more = total - shown;
}

static void add_spaces(luaL_Buffer *b, int n)
{
    for (int i = 0; i < n; i++) luaL_addchar(b, ' ');
}

/* Pushes the table at idx as a constructor. */
static void push_table(lua_State *L, int idx, int indent, int depth, int seen)
{
    lua_pushvalue(L, idx);
    if (lua_rawget(L, seen) != LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushliteral(L, "{...} --[[cycle]]");
        return;
    }
    lua_pop(L, 1);
    if (depth >= PRETTY_DEPTH) {
        lua_pushliteral(L, "{...}");
        return;
    }
    lua_pushvalue(L, idx);
    lua_pushboolean(L, 1);
    lua_rawset(L, seen);
    int base = lua_gettop(L);
    int n;
    lua_Integer more;
    bool keyed;
    push_entries(L, idx, indent + 2, depth + 1, seen, &n, &more, &keyed);
    lua_pushvalue(L, idx);
    lua_pushnil(L);
    lua_rawset(L, seen);               /* only the current path counts as a cycle */
    if (more > 0) {
        lua_pushfstring(L, "... (%I more)", more);
        n++;
    }
    size_t width = (size_t)indent;     /* "{" + entries joined by ", " + "}" */
    bool multiline = false;
    for (int i = 1; i <= n; i++) {
        size_t len;
        const char *s = lua_tolstring(L, base + i, &len);
        width += len + 2;
        if (memchr(s, '\n', len)) multiline = true;
    }
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (n == 0) {
        luaL_addstring(&b, "{}");
    } else if (!multiline && width <= PRETTY_WIDTH) {
        luaL_addchar(&b, '{');
        for (int i = 1; i <= n; i++) {
            if (i > 1) luaL_addstring(&b, ", ");
            luaL_addstring(&b, lua_tostring(L, base + i));
        }
        luaL_addchar(&b, '}');
    } else {
        /* one entry per line; a plain sequence of short values is packed */
        luaL_addchar(&b, '{');
        size_t col = PRETTY_WIDTH;
        for (int i = 1; i <= n; i++) {
            size_t len;
            const char *s = lua_tolstring(L, base + i, &len);
            bool pack = !keyed && !multiline;
            if (!pack || col + len + 2 > PRETTY_WIDTH) {
                luaL_addchar(&b, '\n');
                add_spaces(&b, indent + 2);
                col = (size_t)indent + 2;
            } else {
                luaL_addchar(&b, ' ');
                col++;
            }
            luaL_addlstring(&b, s, len);
            luaL_addchar(&b, ',');
            col += len + 1;
        }
        luaL_addchar(&b, '\n');
        add_spaces(&b, indent);
        luaL_addchar(&b, '}');
    }
    luaL_pushresult(&b);
    lua_insert(L, base + 1);
    lua_settop(L, base + 1);
}

static void push_value(lua_State *L, int idx, int indent, int depth, int seen)
{
    idx = lua_absindex(L, idx);
    luaL_checkstack(L, 8, "table nested too deeply to show");
    lty_box *box = lty_box_test(L, idx);
    if (box) {
        push_array_short(L, box);
    } else if (lua_type(L, idx) == LUA_TSTRING) {
        push_quoted(L, idx);
    } else if (lua_type(L, idx) == LUA_TTABLE && !luaL_getmetafield(L, idx, "__tostring")) {
        push_table(L, idx, indent, depth, seen);
    } else {
        if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);    /* the __tostring */
        luaL_tolstring(L, idx, NULL);
    }
}

void repl_push_pretty(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE || luaL_getmetafield(L, idx, "__tostring") != LUA_TNIL) {
        if (lua_type(L, idx) == LUA_TTABLE) lua_pop(L, 1);
        luaL_tolstring(L, idx, NULL);
        return;
    }
    lua_newtable(L);
    int seen = lua_gettop(L);
    push_table(L, idx, 0, 0, seen);
    lua_remove(L, seen);
}
