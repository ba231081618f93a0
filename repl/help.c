/*
 * help.c -- the global help(). Documentation lives in the `__doc` tables of
 * loaded modules (ty.__doc: function -> doc string, written where each op
 * is registered); a table may also carry its own `__doc` string.
 *
 *   help()            a short overview
 *   help(ty.matmul)   the doc of a value
 *   help(ty.random)   a module or a table with a `__doc` entry: its doc, then
 *                     its functions with their one-line descriptions
 *   help(x)           for an array: what arrays offer, not the array
 *   help("x:sum")     the doc of a name, resolved from the globals
 *   ?ty.matmul        (at the start of a REPL line) same as help("ty.matmul")
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "../lua/binding.h"
#include "repl.h"
#include "tycho.h"

/* The overview's body; its first line names only what exists (see help). */
static const char overview[] =
    "\n"
    "  x = ty.array{{1, 2}, {3, 4}}   arrays from tables (also ty.zeros, ty.randn{3, 4})\n"
    "  y = x:matmul(x) + 1            ops are lazy: printing or ty.eval(y) computes\n"
    "  y                              a bare expression prints its value\n"
    "  help(ty.matmul), ?ty.matmul    the documentation of a function\n"
    "  help(ty.random), help(x)       the functions of a module; what an array offers\n"
    "  ty.<TAB>, x:<TAB>, x.<TAB>     complete names, methods and fields\n"
    "  ty.devices()                   the devices found (TYCHO_DEVICE picks one)\n"
    "\n"
    "Indices and axes are 1-based; optional arguments go in a trailing table.\n"
    "Ctrl-C interrupts a computation, Ctrl-D exits; see also `man tycho`.\n";

static const char array_help[] =
    "An array: an n-dimensional, immutable value with a dtype and a device. Ops on\n"
    "arrays are lazy; printing, x:item(), x:tolist() or ty.eval(x) computes them.\n"
    "  fields   x.shape x.dtype x.ndim x.size x.device x.T, and #x (the first dimension)\n"
    "  methods  x:sum(1), x:matmul(y), x:reshape{3, 2}, ... -- the functions of ty that\n"
    "           take an array first; x:<TAB> lists them, help(\"x:sum\") documents one\n"
    "  indexing x[1], x[-1], x[{{1, 2}, 2}] (1-based, ranges inclusive); x[i] = v\n"
    "  operators + - * / // % ^ and unary -, with arrays or Lua numbers\n";

/* Pushes the overview's first line: only what this session has (autograd,
 * neural networks) is named. */
static void push_overview_title(lua_State *L)
{
    bool grad = false, nn = false;
    if (lua_getglobal(L, "ty") == LUA_TTABLE) {
        lua_getfield(L, -1, "grad");
        grad = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    nn = lua_getglobal(L, "nn") != LUA_TNIL;
    lua_pop(L, 1);
    lua_pushfstring(L, "tycho " TY_VERSION " -- lazy arrays%s%s from Lua.\n",
                    grad ? (nn ? ", autograd" : " and autograd") : "",
                    nn ? " and neural networks" : "");
}

/* Pushes the doc string of the value at idx and returns 1, or returns 0. */
static int find_doc_of_value(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) == LUA_TNIL) return 0;
    if (lua_type(L, idx) == LUA_TTABLE) {
        lua_pushliteral(L, "__doc");
        if (lua_rawget(L, idx) == LUA_TSTRING) return 1;
        lua_pop(L, 1);
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    while (lua_next(L, -2)) {          /* for each loaded module */
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushliteral(L, "__doc");
            if (lua_rawget(L, -2) == LUA_TTABLE) {
                lua_pushvalue(L, idx);
                if (lua_rawget(L, -2) == LUA_TSTRING) {
                    lua_replace(L, -5);        /* over package.loaded */
                    lua_pop(L, 3);
                    return 1;
                }
                lua_pop(L, 1);
            }
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return 0;
}

/* Pushes the key under which table t holds the value at idx, or nothing. */
static int find_key(lua_State *L, int t, int idx)
{
    t = lua_absindex(L, t);
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_rawequal(L, -1, idx)) {
            lua_pop(L, 1);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* The doc of an array method that is not itself documented: that of the
 * function ty[name] of the same name. */
static int find_doc_of_method(lua_State *L, int idx)
{
    int top = lua_gettop(L);
    if (luaL_getmetatable(L, LTY_ARRAY_MT) == LUA_TTABLE
        && lua_getfield(L, -1, "__methods") == LUA_TTABLE && find_key(L, -1, idx)) {
        lua_getglobal(L, "ty");
        if (lua_type(L, -1) == LUA_TTABLE) {
            lua_pushvalue(L, -2);
            lua_rawget(L, -2);
            if (find_doc_of_value(L, -1)) {
                lua_replace(L, top + 1);
                lua_settop(L, top + 1);
                return 1;
            }
        }
    }
    lua_settop(L, top);
    return 0;
}

/* The doc of an object without one of its own (a module instance, an
 * optimizer, a History): that of its class, the metatable or the table its
 * __index leads to, a few levels up (nn.Linear for nn.Linear(3, 2)). */
static int find_doc_of_class(lua_State *L, int idx)
{
    int top = lua_gettop(L);
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE && lua_type(L, idx) != LUA_TUSERDATA) return 0;
    lua_pushvalue(L, idx);
    for (int depth = 0; depth < 4; depth++) {
        if (!lua_getmetatable(L, -1)) break;
        if (find_doc_of_value(L, -1)) {
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return 1;
        }
        lua_pushliteral(L, "__index");
        if (lua_rawget(L, -2) == LUA_TTABLE && find_doc_of_value(L, -1)) {
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return 1;
        }
        lua_pop(L, 1);                 /* __index */
        lua_remove(L, -2);             /* the previous value: walk up from the metatable */
    }
    lua_settop(L, top);
    return 0;
}

/* lua_CFunction(name): the value a dotted name ("ty.matmul", "x:sum")
 * denotes, looked up from the globals, then in ty; nil if none. */
static int resolve_name(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt == 0) lua_pushglobaltable(L);
        else if (lua_getglobal(L, "ty") != LUA_TTABLE) break;
        const char *p = name;
        bool method = false;
        for (;;) {
            size_t n = strcspn(p, ".:");
            if (lua_isnil(L, -1) || n == 0) {
                lua_pop(L, 1);
                lua_pushnil(L);
                break;
            }
            lua_pushlstring(L, p, n);
            int found = 0;
            if (method && lua_getmetatable(L, -2)) {
                if (lua_getfield(L, -1, "__methods") == LUA_TTABLE) {
                    lua_pushvalue(L, -3);
                    found = lua_rawget(L, -2) != LUA_TNIL;
                    if (found) lua_replace(L, -5);     /* over the object */
                    lua_pop(L, 3);
                } else {
                    lua_pop(L, 2);
                }
            }
            if (!found) {
                lua_gettable(L, -2);
                lua_remove(L, -2);
            }
            p += n;
            if (*p == '\0') break;
            method = (*p == ':');
            p++;
        }
        if (!lua_isnil(L, -1)) return 1;
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return 1;
}

/* Pushes a readable name for the value at idx: "ty.matmul" when a global
 * table holds it, else tostring(value). */
static void push_value_name(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    int top = lua_gettop(L);
    lua_pushglobaltable(L);
    if (find_key(L, -1, idx)) {
        lua_replace(L, top + 1);
        lua_settop(L, top + 1);
        return;
    }
    lua_pushnil(L);
    while (lua_next(L, top + 1)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TTABLE
            && find_key(L, -1, idx)) {
            lua_pushfstring(L, "%s.%s", lua_tostring(L, -3), lua_tostring(L, -1));
            lua_replace(L, top + 1);
            lua_settop(L, top + 1);
            return;
        }
        lua_pop(L, 1);
    }
    lua_settop(L, top);
    luaL_tolstring(L, idx, NULL);
}

/* True if the value at idx is the table require "tycho" returns. */
static bool is_tycho_module(lua_State *L, int idx)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "tycho");
    bool same = lua_istable(L, -1) && lua_rawequal(L, -1, idx);
    lua_pop(L, 2);
    return same;
}

/* True if the table at idx is a value of package.loaded (a module). */
static bool is_module(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    bool found = false;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_pushnil(L);
    while (!found && lua_next(L, -2)) {
        found = lua_rawequal(L, -1, idx);
        lua_pop(L, 1);
    }
    if (found) lua_pop(L, 1);          /* the key left by the early stop */
    lua_pop(L, 1);
    return found;
}

/* The one-line description in a doc string: the first line after the
 * signature indented by at most two spaces (a signature may go on over
 * deeper-indented lines), else the second line, or the first when there is
 * one line. Writes at most size bytes into buf. */
static void one_line(const char *doc, char *buf, size_t size)
{
    const char *nl = strchr(doc, '\n');
    const char *line = nl && nl[1] ? nl + 1 : doc;
    for (const char *p = line; nl && *p;) {
        size_t indent = strspn(p, " \t");
        if (indent <= 2 && p[indent] != '\n' && p[indent] != '\0') {
            line = p;
            break;
        }
        const char *next = strchr(p, '\n');
        if (!next) break;
        p = next + 1;
    }
    line += strspn(line, " \t");
    size_t n = strcspn(line, "\n");
    if (n >= size) n = size - 1;
    memcpy(buf, line, n);
    buf[n] = '\0';
    if (n == size - 1 && n > 3) memcpy(buf + n - 3, "...", 3);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* help of a module or of a table with a `__doc` entry (at idx, its name on
 * top): its doc string, then its functions with their descriptions. */
static void help_table(lua_State *L, int idx, const char *name)
{
    idx = lua_absindex(L, idx);
    lua_pushliteral(L, "__doc");
    if (lua_rawget(L, idx) == LUA_TSTRING) {
        size_t n;
        const char *doc = lua_tolstring(L, -1, &n);
        fwrite(doc, 1, n, stdout);
        if (n == 0 || doc[n - 1] != '\n') fputc('\n', stdout);
    } else {
        printf("%s: %s\n", name, is_module(L, idx) ? "a module" : "a table");
    }
    lua_pop(L, 1);
    /* the names of its functions, sorted (anchored by the table) */
    size_t count = 0, cap = 0;
    const char **names = NULL;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TFUNCTION
            && lua_tostring(L, -2)[0] != '_') {         /* private helpers are not listed */
            if (count == cap) {
                cap = cap ? 2 * cap : 32;
                const char **grown = realloc(names, cap * sizeof *names);
                if (!grown) {
                    lua_pop(L, 2);
                    break;
                }
                names = grown;
            }
            names[count++] = lua_tostring(L, -2);
        }
        lua_pop(L, 1);
    }
    if (count == 0) {
        printf("  (no functions)\n");
        free(names);
        return;
    }
    qsort(names, count, sizeof *names, cmp_names);
    int width = 0;
    for (size_t i = 0; i < count; i++)
        if ((int)strlen(names[i]) > width) width = (int)strlen(names[i]);
    if (width > 24) width = 24;
    printf("functions:\n");
    for (size_t i = 0; i < count; i++) {
        char line[96] = "";
        lua_getfield(L, idx, names[i]);
        if (find_doc_of_value(L, -1)) {
            one_line(lua_tostring(L, -1), line, sizeof line - (size_t)width);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (line[0]) printf("  %-*s  %s\n", width, names[i], line);
        else printf("  %s\n", names[i]);
    }
    free(names);
}

static int print_overview(lua_State *L)
{
    push_overview_title(L);
    fputs(lua_tostring(L, -1), stdout);
    fputs(overview, stdout);
    fflush(stdout);
    return 0;
}

static int help(lua_State *L)
{
    if (lua_gettop(L) == 0 || is_tycho_module(L, 1)) return print_overview(L);
    lua_settop(L, 1);
    if (lua_type(L, 1) == LUA_TSTRING) {
        lua_pushvalue(L, 1);           /* the name, for messages */
        lua_pushcfunction(L, resolve_name);
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
            lua_pop(L, 1);
            lua_pushnil(L);
        }
        lua_replace(L, 1);
    } else {
        push_value_name(L, 1);
    }
    if (is_tycho_module(L, 1)) return print_overview(L);
    if (luaL_testudata(L, 1, LTY_ARRAY_MT)) {
        fputs(array_help, stdout);
        fflush(stdout);
        return 0;
    }
    if (lua_type(L, 1) == LUA_TTABLE && !is_tycho_module(L, 1)) {
        lua_pushliteral(L, "__doc");
        bool has_doc = lua_rawget(L, 1) != LUA_TNIL;
        lua_pop(L, 1);
        if (has_doc || is_module(L, 1)) {
            help_table(L, 1, lua_tostring(L, 2));
            fflush(stdout);
            return 0;
        }
    }
    if (find_doc_of_value(L, 1) || find_doc_of_method(L, 1) || find_doc_of_class(L, 1)) {
        size_t n;
        const char *doc = lua_tolstring(L, -1, &n);
        fwrite(doc, 1, n, stdout);
        if (n == 0 || doc[n - 1] != '\n') fputc('\n', stdout);
    } else {
        printf("no help for %s\n", lua_tostring(L, 2));
    }
    fflush(stdout);
    return 0;
}

void repl_open_help(lua_State *L)
{
    lua_pushcfunction(L, help);
    lua_setglobal(L, "help");
}

char *repl_help_rewrite(const char *line)
{
    line += strspn(line, " \t");
    if (line[0] != '?') return NULL;
    line++;
    line += strspn(line, " \t");
    size_t n = strlen(line);
    while (n > 0 && strchr(" \t\r;", line[n - 1])) n--;
    /* help("name"), with quotes and backslashes escaped */
    char *out = malloc(2 * n + sizeof "help(\"\")");
    if (!out) return NULL;
    char *q = out + sprintf(out, n ? "help(\"" : "help(");
    for (size_t i = 0; i < n; i++) {
        if (line[i] == '"' || line[i] == '\\') *q++ = '\\';
        *q++ = line[i] == '\n' ? ' ' : line[i];
    }
    strcpy(q, n ? "\")" : ")");
    return out;
}
