/*
 * main.c -- the `tycho` command line, modelled on lua.c: options, scripts
 * with their `arg` table, the REPL, and subcommands (`tycho devices`).
 * The state it builds has the standard libraries, the global `ty` (the
 * same table as require "tycho"), and `nn`/`optim` when they are embedded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../lua/binding.h"
#include "repl.h"
#include "tycho.h"

/* Exit statuses. */
#define EXIT_USAGE 2

/* Option flags gathered by collect_args. */
#define HAS_ERROR 1
#define HAS_I 2
#define HAS_V 4
#define HAS_E 8
#define HAS_HELP 16

static const char *progname = REPL_PROGNAME;

static void print_usage(FILE *f)
{
    fprintf(f,
            "usage: %s [options] [script [args]]\n"
            "       %s devices\n"
            "       %s summary FILE.lua [--input SHAPE] [--depth N]\n"
            "       %s dot FILE.lua -o OUT [--graph]\n"
            "       %s plot HISTORY.json -o OUT\n"
            "Options:\n"
            "  -e stat        execute string 'stat' (may be repeated)\n"
            "  -i             enter the REPL after running 'script' or -e\n"
            "  -l mod         require library 'mod' into global 'mod'\n"
            "  -v, --version  show version information\n"
            "  -h, --help     show this help\n"
            "  --             stop handling options\n"
            "  -              execute stdin as a script and stop handling options\n"
            "Subcommands:\n"
            "  devices        list the devices and their facts (memory, subgroup, ...)\n"
            "  summary        print the layer table of the model a file returns\n"
            "  dot            render a model's module graph, or a loss's forward+backward\n"
            "                 graph (--graph), with Graphviz\n"
            "  plot           draw the curves of a saved training history\n"
            "  (`%s COMMAND --help` for a command's options)\n"
            "Without a script or -e, %s starts the REPL; when stdin is not a\n"
            "terminal, it is read as REPL input without prompts.\n",
            progname, progname, progname, progname, progname, progname, progname);
}

static void print_version(void)
{
    printf("tycho %s (%s)\n", TY_VERSION, LUA_RELEASE);
    fflush(stdout);
}

/* Scans argv for options; sets *first to the index of the script (argc if
 * none). Returns HAS_* flags. */
static int collect_args(char **argv, int *first)
{
    int args = 0;
    int i;
    for (i = 1; argv[i] != NULL; i++) {
        *first = i;
        if (argv[i][0] != '-') return args;
        if (strcmp(argv[i], "--version") == 0) {
            args |= HAS_V;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0) return args | HAS_HELP;
        switch (argv[i][1]) {
        case '-':
            if (argv[i][2] != '\0') return args | HAS_ERROR;
            *first = i + 1;
            return args;
        case '\0':
            return args;                   /* script "-": stdin */
        case 'h':
            return args | (argv[i][2] ? HAS_ERROR : HAS_HELP);
        case 'i':
            args |= HAS_I;
            if (argv[i][2] != '\0') return args | HAS_ERROR;
            break;
        case 'v':
            if (argv[i][2] != '\0') return args | HAS_ERROR;
            args |= HAS_V;
            break;
        case 'e':
            args |= HAS_E;
            /* fall through */
        case 'l':
            if (argv[i][2] == '\0') {
                i++;
                if (argv[i] == NULL || argv[i][0] == '-') return args | HAS_ERROR;
            }
            break;
        default:
            return args | HAS_ERROR;
        }
    }
    *first = i;
    return args;
}

/* Global `arg`: arg[0] the script, arg[1..] its arguments, negative
 * indices the interpreter and its options (as lua.c). */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    if (script == argc) script = 0;
    int narg = argc - (script + 1);
    lua_createtable(L, narg > 0 ? narg : 0, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int do_chunk(lua_State *L, int status)
{
    if (status == LUA_OK) status = repl_docall(L, 0, 0);
    return repl_report(L, status, progname);
}

static int do_string(lua_State *L, const char *code, const char *name)
{
    return do_chunk(L, luaL_loadbuffer(L, code, strlen(code), name));
}

/* require(name) into global `global`. */
static int do_require(lua_State *L, const char *name, const char *global)
{
    lua_getglobal(L, "require");
    lua_pushstring(L, name);
    int status = repl_docall(L, 1, 1);
    if (status == LUA_OK) lua_setglobal(L, global);
    return repl_report(L, status, progname);
}

/* Runs -e and -l in order. Returns 0 or 1 (an error). */
static int run_args(lua_State *L, char **argv, int n)
{
    for (int i = 1; i < n; i++) {
        char option = argv[i][1];
        if (argv[i][0] != '-' || (option != 'e' && option != 'l')) continue;
        const char *extra = argv[i] + 2;
        if (*extra == '\0') extra = argv[++i];
        int status;
        if (option == 'e') {
            status = do_string(L, extra, "=(command line)");
        } else {
            /* -l mod: global name is mod up to a '-' ("mod-v2" -> mod) */
            char *global = strdup(extra);
            if (!global) return 1;
            char *dash = strchr(global, '-');
            if (dash) *dash = '\0';
            status = do_require(L, extra, global);
            free(global);
        }
        if (status != LUA_OK) return 1;
    }
    return 0;
}

static int push_script_args(lua_State *L)
{
    if (lua_getglobal(L, "arg") != LUA_TTABLE) luaL_error(L, "'arg' is not a table");
    int n = (int)luaL_len(L, -1);
    luaL_checkstack(L, n + 3, "too many arguments to script");
    int i;
    for (i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
    lua_remove(L, -i);
    return n;
}

/* Runs argv[0] as a script ("-" is stdin unless after "--"). */
static int run_script(lua_State *L, char **argv)
{
    const char *fname = argv[0];
    if (strcmp(fname, "-") == 0 && strcmp(argv[-1], "--") != 0) fname = NULL;
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = push_script_args(L);
        status = repl_docall(L, n, 0);
    }
    return repl_report(L, status, progname);
}

/* package.loaded.tycho = luaopen_tycho(); global ty; nn and optim when
 * the embedded library provides them. */
static int open_tycho(lua_State *L)
{
    luaL_requiref(L, "tycho", luaopen_tycho, 0);
    lua_setglobal(L, "ty");
    static const char *const extras[][2] = {{"tycho.nn", "nn"}, {"tycho.optim", "optim"}};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        lua_getglobal(L, "package");
        lua_getfield(L, -1, "preload");
        int present = lua_istable(L, -1) && lua_getfield(L, -1, extras[i][0]) != LUA_TNIL;
        lua_settop(L, 0);
        if (!present) continue;
        lua_getglobal(L, "require");
        lua_pushstring(L, extras[i][0]);
        lua_call(L, 1, 1);
        lua_setglobal(L, extras[i][1]);
    }
    return 0;
}

/* Builds the state: libraries, ty, help. Returns 0, or 1 after reporting
 * an error. */
static int setup_state(lua_State *L)
{
    luaL_openlibs(L);
    repl_open_help(L);
    lua_pushcfunction(L, open_tycho);
    return do_chunk(L, LUA_OK) == LUA_OK ? 0 : 1;
}

/* ---------------------------------------------------------------- subcommands */

static void format_memory(lua_State *L, int idx, char *buf, size_t size)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double bytes = lua_tonumber(L, idx);
        if (bytes >= 1024.0 * 1024 * 1024)
            snprintf(buf, size, "%.1f GiB", bytes / (1024.0 * 1024 * 1024));
        else
            snprintf(buf, size, "%.0f MiB", bytes / (1024.0 * 1024));
    } else if (lua_isstring(L, idx)) {
        snprintf(buf, size, "%s", lua_tostring(L, idx));
    } else {
        snprintf(buf, size, "-");
    }
}

/* One cell of the devices table: field `key` of the entry at idx. */
static void device_cell(lua_State *L, int entry, const char *key, char *buf, size_t size)
{
    lua_getfield(L, entry, key);
    if (!strcmp(key, "memory") || !strcmp(key, "max_allocation")) {
        format_memory(L, -1, buf, size);
    } else if (!strcmp(key, "shared_memory") && lua_type(L, -1) == LUA_TNUMBER) {
        lua_Integer v = lua_tointeger(L, -1);
        if (v) snprintf(buf, size, "%lld KiB", (long long)(v / 1024));
        else snprintf(buf, size, "-");
    } else if (!strcmp(key, "subgroup_size") && lua_type(L, -1) == LUA_TNUMBER) {
        lua_Integer v = lua_tointeger(L, -1);
        if (v) snprintf(buf, size, "%lld", (long long)v);
        else snprintf(buf, size, "-");
    } else if (lua_isboolean(L, -1)) {
        snprintf(buf, size, "%s", lua_toboolean(L, -1) ? "yes" : "no");
    } else if (lua_isstring(L, -1) && *lua_tostring(L, -1)) {
        snprintf(buf, size, "%s", lua_tostring(L, -1));
    } else {
        snprintf(buf, size, "-");
    }
    lua_pop(L, 1);
}

/* lua_CFunction: prints ty.devices() as a table. */
static int list_devices(lua_State *L)
{
    static const char *keys[] = {"name", "description", "type", "memory", "max_allocation",
                                 "subgroup_size", "shared_memory", "float16",
                                 "cooperative_matrix", "note"};
    static const char *heads[] = {"device", "name", "type", "memory", "max alloc",
                                  "subgroup", "shared", "f16", "matrix units", "note"};
    enum { NCOL = sizeof keys / sizeof keys[0] };
    lua_getglobal(L, "ty");
    lua_getfield(L, -1, "devices");
    lua_call(L, 0, 1);
    luaL_checktype(L, -1, LUA_TTABLE);
    int list = lua_gettop(L);
    int n = (int)luaL_len(L, list);
    int width[NCOL];
    for (int c = 0; c < NCOL; c++) width[c] = (int)strlen(heads[c]);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (int c = 0; c < NCOL; c++)
                printf("%-*s%s", c == NCOL - 1 ? 0 : width[c], heads[c],
                       c == NCOL - 1 ? "\n" : "  ");
        }
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, list, i);
            int entry = lua_gettop(L);
            if (!lua_istable(L, entry)) luaL_error(L, "ty.devices()[%d] is not a table", i);
            for (int c = 0; c < NCOL; c++) {
                char cell[256];
                device_cell(L, entry, keys[c], cell, sizeof cell);
                int len = (int)strlen(cell);
                if (pass == 0) width[c] = len > width[c] ? len : width[c];
                else
                    printf("%-*s%s", c == NCOL - 1 ? 0 : width[c], cell,
                           c == NCOL - 1 ? "\n" : "  ");
            }
            lua_settop(L, list);
        }
    }
    char device[32];
    printf("default: %s\n", ty_device_string(ty_default_device(), device, sizeof device));
    return 0;
}

static int command_devices(lua_State *L, int argc, char **argv)
{
    (void)argv;
    if (argc > 2) {
        print_usage(stderr);
        return EXIT_USAGE;
    }
    lua_pushcfunction(L, list_devices);
    return do_chunk(L, LUA_OK) == LUA_OK ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* lua_CFunction: require("tycho.cli").run(name, {args...}) -> exit status. */
static int run_cli(lua_State *L)
{
    const char *name = lua_tostring(L, 1);
    int argc = (int)lua_tointeger(L, 2);
    char **argv = lua_touserdata(L, 3);
    lua_getglobal(L, "require");
    lua_pushstring(L, "tycho.cli");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "run");
    lua_pushstring(L, name);
    lua_createtable(L, argc > 2 ? argc - 2 : 0, 0);
    for (int i = 2; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - 1);
    }
    lua_call(L, 2, 1);
    return 1;
}

/* summary, dot, plot: implemented in Lua (lua/tycho/cli.lua). */
static int command_lua(lua_State *L, int argc, char **argv)
{
    lua_pushcfunction(L, run_cli);
    lua_pushstring(L, argv[1]);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = repl_docall(L, 3, 1);
    if (status != LUA_OK) {
        repl_report(L, status, progname);
        return EXIT_FAILURE;
    }
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : EXIT_FAILURE;
    lua_pop(L, 1);
    fflush(stdout);
    return code;
}

typedef int (*command_fn)(lua_State *L, int argc, char **argv);

static const struct {
    const char *name;
    command_fn run;
} commands[] = {
    {"devices", command_devices},
    {"summary", command_lua},
    {"dot", command_lua},
    {"plot", command_lua},
    {NULL, NULL},
};

static command_fn find_command(const char *name)
{
    for (int i = 0; name && commands[i].name; i++)
        if (strcmp(commands[i].name, name) == 0) return commands[i].run;
    return NULL;
}

/* ---------------------------------------------------------------- main */

struct main_args {
    int argc;
    char **argv;
    int status;                        /* exit status */
};

/* Runs inside lua_pcall so that memory errors while setting up are caught. */
static int protected_main(lua_State *L)
{
    struct main_args *m = lua_touserdata(L, 1);
    int argc = m->argc;
    char **argv = m->argv;
    lua_settop(L, 0);
    m->status = EXIT_FAILURE;
    command_fn command = argc > 1 ? find_command(argv[1]) : NULL;
    int script = argc;
    int args = command ? 0 : collect_args(argv, &script);
    if (args & HAS_ERROR) {
        const char *option = argv[script];
        if ((option[1] == 'e' || option[1] == 'l') && option[2] == '\0')
            fprintf(stderr, "%s: '%s' needs an argument\n", progname, option);
        else
            fprintf(stderr, "%s: unrecognized option '%s'\n", progname, option);
        print_usage(stderr);
        m->status = EXIT_USAGE;
        return 0;
    }
    if (args & HAS_HELP) {
        print_usage(stdout);
        m->status = EXIT_SUCCESS;
        return 0;
    }
    if ((args & HAS_V) && !(args & (HAS_E | HAS_I)) && script == argc) {
        print_version();
        m->status = EXIT_SUCCESS;
        return 0;
    }
    if (args & HAS_V) print_version();
    if (setup_state(L) != 0) return 0;
    if (command) {
        m->status = command(L, argc, argv);
        return 0;
    }
    create_arg_table(L, argv, argc, script);
    if (run_args(L, argv, script) != 0) return 0;
    if (script < argc && run_script(L, argv + script) != LUA_OK) return 0;
    bool stdin_tty = isatty(STDIN_FILENO);
    if ((args & HAS_I) || (script == argc && !(args & HAS_E))) {
        if (repl_run(L, stdin_tty) > 0 && !stdin_tty) return 0;
    }
    m->status = EXIT_SUCCESS;
    return 0;
}

int main(int argc, char **argv)
{
    if (argv[0] == NULL) {
        static char *empty[] = {REPL_PROGNAME, NULL};
        argv = empty;
        argc = 1;
    }
    lua_State *L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "%s: cannot create state: not enough memory\n", progname);
        return EXIT_FAILURE;
    }
    repl_signals_init();
    struct main_args m = {argc, argv, EXIT_FAILURE};
    lua_pushcfunction(L, protected_main);
    lua_pushlightuserdata(L, &m);
    int status = lua_pcall(L, 1, 0, 0);
    repl_report(L, status, progname);
    lua_close(L);
    return status == LUA_OK ? m.status : EXIT_FAILURE;
}
