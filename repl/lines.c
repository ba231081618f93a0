/*
 * lines.c -- reading input lines. On a terminal: readline, driven through
 * its callback interface so that Ctrl-C can drop the line being edited and
 * a fresh prompt appears (readline's own signal handling is off); a history
 * file is appended after every chunk. Otherwise: plain lines from stdin.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "repl.h"

volatile sig_atomic_t repl_sigint_pending;
static volatile sig_atomic_t sigwinch_pending;

static bool use_readline;
static char *history_path;             /* NULL: no history file */

/* The line readline's callback handed over, and whether it did. */
static char *accepted_line;
static bool line_done;

static void on_sigwinch(int sig)
{
    (void)sig;
    sigwinch_pending = 1;
}

/* ~/.tycho_history, or $TYCHO_HISTORY; an empty TYCHO_HISTORY disables it. */
static char *history_file_name(void)
{
    const char *env = getenv("TYCHO_HISTORY");
    if (env) return env[0] ? strdup(env) : NULL;
    const char *home = getenv("HOME");
    if (!home || !home[0]) return NULL;
    size_t n = strlen(home) + sizeof REPL_HISTORY_FILE + 1;
    char *path = malloc(n);
    if (path) snprintf(path, n, "%s/%s", home, REPL_HISTORY_FILE);
    return path;
}

/* True if the file is empty or starts with a timestamp line ("#1700000000"):
 * then entries are delimited by timestamps and may span several lines. A
 * file without them holds one entry per line. */
static bool history_has_timestamps(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return true;
    int c0 = fgetc(f), c1 = fgetc(f);
    fclose(f);
    return c0 == EOF || (c0 == '#' && c1 >= '0' && c1 <= '9');
}

static void history_open(void)
{
    using_history();
    stifle_history(REPL_HISTORY_SIZE);
    history_path = history_file_name();
    if (!history_path) return;
    /* timestamps delimit entries, so a multi-line chunk reads back as one */
    history_comment_char = '#';
    history_write_timestamps = 1;
    history_multiline_entries = history_has_timestamps(history_path);
    if (read_history(history_path) == ENOENT) write_history(history_path);
    history_multiline_entries = 1;
}

void repl_lines_open(lua_State *L, bool interactive)
{
    use_readline = interactive;
    if (!interactive) return;
    rl_readline_name = "tycho";        /* for $if tycho in ~/.inputrc */
    rl_catch_signals = 0;
    rl_catch_sigwinch = 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigwinch;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGWINCH, &sa, NULL);
    repl_complete_init(L);
    history_open();
}

static void on_line(char *line)
{
    accepted_line = line;
    line_done = true;
    rl_callback_handler_remove();
}

/* Drops the line being edited after Ctrl-C and leaves the terminal as it
 * was, the cursor on a fresh line. */
static void abandon_line(void)
{
    FILE *out = rl_outstream ? rl_outstream : stdout;
    rl_point = rl_end;
    rl_redisplay();
    fputs("^C", out);                  /* before deprep, which may emit "\r" */
    fflush(out);
    rl_free_line_state();
    rl_callback_sigcleanup();
    rl_cleanup_after_signal();
    rl_callback_handler_remove();
    fputs("\n", out);
    fflush(out);
}

static repl_line_status read_with_readline(const char *prompt, char **line)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGWINCH);
    /* signals are delivered only inside pselect: no wake-up is missed */
    sigprocmask(SIG_BLOCK, &block, &old);
    line_done = false;
    accepted_line = NULL;
    rl_callback_handler_install(prompt, on_line);
    repl_line_status status = REPL_LINE_OK;
    int fd = fileno(rl_instream ? rl_instream : stdin);
    while (!line_done) {
        if (sigwinch_pending) {
            sigwinch_pending = 0;
            rl_resize_terminal();
        }
        if (repl_sigint_pending) {
            repl_sigint_pending = 0;
            abandon_line();
            status = REPL_LINE_INTERRUPTED;
            break;
        }
        fd_set fds;
        FD_ZERO(&fds);
        FD_SET(fd, &fds);
        int r = pselect(fd + 1, &fds, NULL, NULL, NULL, &old);
        if (r > 0) {
            rl_callback_read_char();
        } else if (r < 0 && errno != EINTR) {
            rl_callback_handler_remove();
            status = REPL_LINE_EOF;
            break;
        }
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    if (status != REPL_LINE_OK) return status;
    if (!accepted_line) return REPL_LINE_EOF;
    *line = accepted_line;
    return REPL_LINE_OK;
}

static repl_line_status read_plain(char **line)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;
    for (;;) {
        errno = 0;
        n = getline(&buf, &cap, stdin);
        if (n >= 0) break;
        if (errno == EINTR) {
            clearerr(stdin);
            continue;
        }
        free(buf);
        return REPL_LINE_EOF;
    }
    if (n > 0 && buf[n - 1] == '\n') buf[--n] = '\0';
    if (n > 0 && buf[n - 1] == '\r') buf[--n] = '\0';
    *line = buf;
    return REPL_LINE_OK;
}

repl_line_status repl_read_line(const char *prompt, char **line)
{
    *line = NULL;
    return use_readline ? read_with_readline(prompt, line) : read_plain(line);
}

void repl_history_add(const char *chunk)
{
    if (!use_readline || chunk[0] == '\0') return;
    if (history_length > 0) {
        HIST_ENTRY *last = history_get(history_base + history_length - 1);
        if (last && strcmp(last->line, chunk) == 0) return;
    }
    add_history(chunk);
    /* after every chunk, so that a killed session keeps its history */
    if (history_path && append_history(1, history_path) != 0)
        write_history(history_path);
}

void repl_lines_close(void)
{
    if (!use_readline) return;
    if (history_path) {
        history_truncate_file(history_path, REPL_HISTORY_SIZE);
        free(history_path);
        history_path = NULL;
    }
    rl_callback_handler_remove();
    use_readline = false;
}
