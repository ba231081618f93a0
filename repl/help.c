/*
 * help.c -- the global help(). Documentation lives in the `__doc` tables of
 * loaded modules (ty.__doc: function -> doc string, written where each op
 * is registered); a table may also carry its own `__doc` string.
 *
 *   help()            a short overview
 *   help(ty.matmul)   the doc of a value
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

static const char overview[] =
    "tycho " TY_VERSION " -- lazy arrays, autograd and neural networks from Lua.\n"
    "\n"
    "  x = ty.array{{1, 2}, {3, 4}}   arrays from tables (also ty.zeros, ty.randn{3, 4})\n"
    "  y = x:matmul(x) + 1            ops are lazy: printing or ty.eval(y) computes\n"
    "  y                              a bare expression prints its value\n"
    "  help(ty.matmul), ?ty.matmul    the documentation of a function\n"
    "  ty.<TAB>, x:<TAB>              complete names, fields and methods\n"
    "  ty.devices()                   the devices found (TYCHO_DEVICE picks one)\n"
    "\n"
    "Indices and axes are 1-based; optional arguments go in a trailing table.\n"
    "Ctrl-C interrupts a computation, Ctrl-D exits; see also `man tycho`.\n";

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

static int help(lua_State *L)
{
    if (lua_gettop(L) == 0 || is_tycho_module(L, 1)) {
        fputs(overview, stdout);
        fflush(stdout);
        return 0;
    }
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
    if (find_doc_of_value(L, 1) || find_doc_of_method(L, 1)) {
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
