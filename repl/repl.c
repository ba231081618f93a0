/*
 * repl.c -- the read-eval-print loop, as in lua.c: a line is first tried as
 * `return <line>` (so bare expressions print), then as a statement; input
 * goes on while the chunk is incomplete (its syntax error ends in "<eof>").
 * Every chunk runs under a traceback handler with Ctrl-C armed.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>

#include "repl.h"
#include "tycho.h"

#define EOF_MARK "<eof>"
#define CHUNK_NAME "=stdin"

/* load_chunk results besides lua_load's statuses */
#define CHUNK_EOF (-1)
#define CHUNK_SKIP (-2)

/* Ctrl-C presses during one call before the process gives up and quits. */
#define SIGINT_FORCE_QUIT 3

/* The state running Lua code under repl_docall, or NULL when idle. */
static lua_State *volatile running_state;
static volatile sig_atomic_t sigint_count;
/* When idle and not editing a line, Ctrl-C ends the process as usual. */
static volatile sig_atomic_t sigint_idle_quits = 1;

/* The hook set by the signal handler: raises the error at a safe point. */
static void interrupt_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

/* Stops L at its next instruction and the core at its next node. */
static void interrupt(lua_State *L)
{
    ty_interrupt();
    lua_sethook(L, interrupt_hook,
                LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT, 1);
}

static void on_sigint(int sig)
{
    lua_State *L = running_state;
    if (L) {
        interrupt(L);
        if (++sigint_count >= SIGINT_FORCE_QUIT) {
            signal(sig, SIG_DFL);
            raise(sig);
        }
    } else if (sigint_idle_quits) {
        signal(sig, SIG_DFL);
        raise(sig);
    } else {
        repl_sigint_pending = 1;
    }
}

void repl_signals_init(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;                   /* no SA_RESTART: blocking reads see EINTR */
    sigaction(SIGINT, &sa, NULL);
}

/* Removes the "[C]: in ?" frames (the REPL's own pcall at the bottom, the
 * interrupt hook at the top) from a traceback, and its header when no frame
 * is left. */
static void push_trimmed(lua_State *L, const char *msg)
{
    static const char frame[] = "\n\t[C]: in ?";
    static const char header[] = "\nstack traceback:";
    size_t fl = sizeof frame - 1, hl = sizeof header - 1;
    size_t n = strlen(msg);
    while (n >= fl && memcmp(msg + n - fl, frame, fl) == 0) n -= fl;
    const char *h = strstr(msg, header);
    if (h && (size_t)(h - msg) + hl + fl <= n && memcmp(h + hl, frame, fl) == 0) {
        /* drop one frame after the header */
        luaL_Buffer b;
        luaL_buffinit(L, &b);
        luaL_addlstring(&b, msg, (size_t)(h - msg) + hl);
        luaL_addlstring(&b, h + hl + fl, n - (size_t)(h - msg) - hl - fl);
        luaL_pushresult(&b);
        return;
    }
    if (n >= hl && memcmp(msg + n - hl, header, hl) == 0) n -= hl;
    lua_pushlstring(L, msg, n);
}

/* Message handler of every call: the message plus a short traceback. */
static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    push_trimmed(L, lua_tostring(L, -1));
    return 1;
}

int repl_docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0);
    ty_interrupt_clear();
    sigint_count = 0;
    running_state = L;
    if (repl_sigint_pending) {         /* Ctrl-C came after the line was read */
        repl_sigint_pending = 0;
        interrupt(L);
    }
    int status = lua_pcall(L, narg, nres, base);
    running_state = NULL;
    if (lua_gethook(L) == interrupt_hook) lua_sethook(L, NULL, 0, 0);
    lua_remove(L, base);
    return status;
}

int repl_report(lua_State *L, int status, const char *progname)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        if (msg == NULL) msg = "(error object is not a string)";
        fflush(stdout);
        if (progname) fprintf(stderr, "%s: ", progname);
        fprintf(stderr, "%s\n", msg);
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* Prints the results of a chunk, tabs between: tables as constructors
 * (pretty.c), anything else as tostring (arrays in full). */
static int print_values(lua_State *L)
{
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        size_t len;
        repl_push_pretty(L, i);
        const char *s = lua_tolstring(L, -1, &len);
        if (i > 1) fputc('\t', stdout);
        fwrite(s, 1, len, stdout);
        lua_pop(L, 1);
    }
    fputc('\n', stdout);
    fflush(stdout);
    return 0;
}

/* True (and pops the message) if status is a syntax error at end of input. */
static int incomplete(lua_State *L, int status)
{
    if (status != LUA_ERRSYNTAX) return 0;
    size_t len;
    const char *msg = lua_tolstring(L, -1, &len);
    size_t mark = sizeof EOF_MARK - 1;
    if (msg && len >= mark && strcmp(msg + len - mark, EOF_MARK) == 0) {
        lua_pop(L, 1);
        return 1;
    }
    return 0;
}

/* Compiles `return <chunk>;`; pushes the function on success, else nothing. */
static int try_return(lua_State *L, const char *chunk)
{
    const char *code = lua_pushfstring(L, "return %s;", chunk);
    int status = luaL_loadbuffer(L, code, strlen(code), CHUNK_NAME);
    lua_remove(L, -2);
    if (status != LUA_OK) lua_pop(L, 1);
    return status;
}

static int is_blank(const char *s)
{
    return s[strspn(s, " \t\r\n\f\v")] == '\0';
}

/* Appends "\n" and line to *chunk (reallocated). Returns 0, or -1 when out
 * of memory (the chunk is then left as it was). */
static int append_line(char **chunk, const char *line)
{
    size_t a = strlen(*chunk), b = strlen(line);
    char *grown = realloc(*chunk, a + b + 2);
    if (!grown) return -1;
    grown[a] = '\n';
    memcpy(grown + a + 1, line, b + 1);
    *chunk = grown;
    return 0;
}

/* Reads lines until they form a complete chunk and compiles it. Pushes the
 * function (LUA_OK) or an error message (a load status); CHUNK_EOF at end
 * of input, CHUNK_SKIP for a blank line or Ctrl-C (nothing pushed). */
static int load_chunk(lua_State *L)
{
    char *chunk;
    repl_line_status rs = repl_read_line(REPL_PROMPT, &chunk);
    if (rs == REPL_LINE_EOF) return CHUNK_EOF;
    if (rs == REPL_LINE_INTERRUPTED) return CHUNK_SKIP;
    if (is_blank(chunk)) {
        free(chunk);
        return CHUNK_SKIP;
    }
    char *help = repl_help_rewrite(chunk);
    if (help) {
        repl_history_add(chunk);
        int status = luaL_loadbuffer(L, help, strlen(help), CHUNK_NAME);
        free(help);
        free(chunk);
        return status;
    }
    int status;
    for (;;) {
        status = try_return(L, chunk);
        if (status == LUA_OK) break;
        status = luaL_loadbuffer(L, chunk, strlen(chunk), CHUNK_NAME);
        if (!incomplete(L, status)) break;
        char *line;
        rs = repl_read_line(REPL_PROMPT2, &line);
        if (rs == REPL_LINE_INTERRUPTED) {
            repl_history_add(chunk);
            free(chunk);
            return CHUNK_SKIP;
        }
        if (rs == REPL_LINE_EOF) {
            /* compile once more to leave the "<eof>" error on the stack */
            status = luaL_loadbuffer(L, chunk, strlen(chunk), CHUNK_NAME);
            break;
        }
        int failed = append_line(&chunk, line);
        free(line);
        if (failed) {
            lua_pushliteral(L, "input too long: not enough memory");
            status = LUA_ERRMEM;
            break;
        }
    }
    repl_history_add(chunk);
    free(chunk);
    return status;
}

/* Runs the function on top; prints what it returns. */
static int run_and_print(lua_State *L)
{
    int base = lua_gettop(L) - 1;
    int status = repl_docall(L, 0, LUA_MULTRET);
    int n = lua_gettop(L) - base;
    if (status == LUA_OK && n > 0) {
        luaL_checkstack(L, 2, "too many results to print");
        lua_pushcfunction(L, print_values);
        lua_insert(L, base + 1);
        status = repl_docall(L, n, 0);
    }
    return status;
}

static void print_banner(void)
{
    char device[32];
    ty_device_string(ty_default_device(), device, sizeof device);
    printf("tycho %s (%s), default device: %s\n", TY_VERSION, LUA_RELEASE, device);
    printf("help() for help, Ctrl-C interrupts, Ctrl-D exits.\n");
    fflush(stdout);
}

int repl_run(lua_State *L, bool interactive)
{
    int errors = 0;
    sigint_idle_quits = !interactive;
    repl_lines_open(L, interactive);
    if (interactive) print_banner();
    for (;;) {
        lua_settop(L, 0);
        int status = load_chunk(L);
        if (status == CHUNK_EOF) break;
        if (status == CHUNK_SKIP) continue;
        if (status == LUA_OK) status = run_and_print(L);
        if (status != LUA_OK) {
            errors++;
            repl_report(L, status, NULL);
        }
        fflush(stdout);
    }
    lua_settop(L, 0);
    if (interactive) {
        fputc('\n', stdout);
        fflush(stdout);
    }
    repl_lines_close();
    sigint_idle_quits = 1;
    return errors;
}
