/*
 * repl.h -- shared internals of the `tycho` executable (the files of repl/).
 *
 *   main.c      command line: options, subcommands, scripts, state set-up
 *   repl.c      the read-eval-print loop: chunks, auto-print, Ctrl-C, errors
 *   lines.c     line reading: readline with history, or plain stdin
 *   complete.c  tab completion of globals, fields and methods
 *   help.c      the global help() and the `?name` shorthand
 *   pretty.c    how results are shown: tables as constructors, like trepl
 */
#ifndef TYCHO_REPL_H
#define TYCHO_REPL_H

#include <signal.h>
#include <stdbool.h>

#include <lua.h>

#define REPL_PROGNAME "tycho"
#define REPL_PROMPT "> "
#define REPL_PROMPT2 ">> "
#define REPL_HISTORY_FILE ".tycho_history"
#define REPL_HISTORY_SIZE 1000

/* ---------------------------------------------------------------- repl.c */

/* Installs the SIGINT handler (once per process). While Lua code runs under
 * repl_docall, Ctrl-C raises "interrupted!" at the next Lua instruction and
 * stops a core evaluation at its next node. */
void repl_signals_init(void);
/* Calls the function below `narg` arguments on the stack under a traceback
 * handler, with Ctrl-C armed; returns a lua_pcall status. */
int repl_docall(lua_State *L, int narg, int nres);
/* If status is an error, prints the message on top (prefixed by progname
 * when not NULL) to stderr and pops it. Returns status. */
int repl_report(lua_State *L, int status, const char *progname);
/* Runs the loop until end of input. interactive: prompts, banner, history
 * and completion; otherwise stdin is read silently. Returns the number of
 * chunks that raised an error. */
int repl_run(lua_State *L, bool interactive);

/* ---------------------------------------------------------------- lines.c */

typedef enum repl_line_status {
    REPL_LINE_OK,                      /* *line is a malloc'd string */
    REPL_LINE_EOF,                     /* Ctrl-D or end of input */
    REPL_LINE_INTERRUPTED              /* Ctrl-C while editing: line dropped */
} repl_line_status;

/* Sets up line reading; interactive uses readline, history and completion
 * (L is used by completion). */
void repl_lines_open(lua_State *L, bool interactive);
/* Reads one line without its newline into *line (caller frees). */
repl_line_status repl_read_line(const char *prompt, char **line);
/* Records a whole chunk (possibly several lines) in the history file. */
void repl_history_add(const char *chunk);
/* Truncates the history file and restores the terminal. */
void repl_lines_close(void);
/* Set by the SIGINT handler; the line reader consumes it. */
extern volatile sig_atomic_t repl_sigint_pending;

/* ---------------------------------------------------------------- complete.c */

/* Installs readline's completion of Lua names against the globals of L. */
void repl_complete_init(lua_State *L);

/* ---------------------------------------------------------------- pretty.c */

/* Pushes how the REPL shows the value at idx: a table (without __tostring)
 * as a constructor, {2, 3} or {a = 1, b = {...}}, with arrays inside by their
 * short form; anything else as tostring. May raise (a __tostring error). */
void repl_push_pretty(lua_State *L, int idx);

/* ---------------------------------------------------------------- help.c */

/* Defines the global help(). */
void repl_open_help(lua_State *L);
/* Turns a line "?name" into a call of help("name") (caller frees), or
 * returns NULL when line is not a help request. */
char *repl_help_rewrite(const char *line);

#endif
