/*
 * io_csv.c -- reading CSV files of numeric columns into float32 (rows, cols).
 *
 * Records end at \n (a \r before it is dropped); fields are split at the
 * delimiter; a field may be quoted ("...", with "" for a quote), and a quoted
 * field may hold delimiters and newlines. Spaces around a field are ignored.
 * Empty fields, NA, N/A, NaN, nan, NULL and null are missing values (NaN).
 * Blank lines are skipped. Every record must have the first one's column
 * count. The file may be gzip-compressed (zlib reads it transparently).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "internal.h"

#define CSV_MAX_BYTES ((int64_t)1 << 36)

/* Reads the whole file into a NUL-terminated buffer (owned). */
static char *read_all(const char *path, int64_t *len)
{
    gzFile f = gzopen(path, "rb");
    if (!f) return ty__error_null("[read_csv] %s: cannot open the file", path);
    int64_t cap = 1 << 16, n = 0;
    char *buf = malloc((size_t)cap);
    for (;;) {
        if (!buf) {
            gzclose(f);
            return ty__error_null("[read_csv] %s: out of host memory", path);
        }
        if (cap - n < 2) {
            if (cap >= CSV_MAX_BYTES) {
                free(buf);
                gzclose(f);
                return ty__error_null("[read_csv] %s: file too large (over 64 GiB)", path);
            }
            char *nb = realloc(buf, (size_t)cap * 2);
            if (!nb) free(buf);
            buf = nb;
            cap *= 2;
            continue;
        }
        int64_t want = cap - n - 1;
        int r = gzread(f, buf + n, want > (1 << 30) ? (1u << 30) : (unsigned)want);
        if (r < 0) {
            int errnum = 0;
            const char *msg = gzerror(f, &errnum);
            ty__error("[read_csv] %s: read error (%s)", path, msg ? msg : "unknown");
            free(buf);
            gzclose(f);
            return NULL;
        }
        if (r == 0) break;
        n += r;
    }
    gzclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

typedef struct csv_parser {
    const char *path;
    const char *p, *end;
    int64_t line;              /* line of the current position (1-based) */
    char delim;
    char *field;               /* current field's text (unquoted), owned */
    size_t flen, fcap;
    int64_t field_line;        /* line where the current field starts */
} csv_parser;

static int push_char(csv_parser *c, char ch)
{
    if (c->flen + 2 > c->fcap) {
        size_t cap = c->fcap ? c->fcap * 2 : 64;
        char *f = realloc(c->field, cap);
        if (!f) return ty__error("[read_csv] %s: out of host memory", c->path);
        c->field = f;
        c->fcap = cap;
    }
    c->field[c->flen++] = ch;
    c->field[c->flen] = '\0';
    return 0;
}

/* Parses one field at c->p into c->field. *last is set when it ends its
 * record (or the file). Returns 0 or -1. */
static int next_field(csv_parser *c, bool *last)
{
    c->flen = 0;
    if (push_char(c, '\0') != 0) return -1;
    c->flen = 0;
    c->field_line = c->line;
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t') && *c->p != c->delim) c->p++;
    if (c->p < c->end && *c->p == '"') {
        c->p++;
        for (;;) {
            if (c->p >= c->end)
                return ty__error("[read_csv] %s:%lld: unterminated quoted field", c->path,
                                 (long long)c->field_line);
            char ch = *c->p++;
            if (ch == '"') {
                if (c->p < c->end && *c->p == '"') {
                    c->p++;
                } else {
                    break;
                }
            }
            if (ch == '\n') c->line++;
            if (push_char(c, ch) != 0) return -1;
        }
        while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r') &&
               *c->p != c->delim)
            c->p++;
        if (c->p < c->end && *c->p != c->delim && *c->p != '\n')
            return ty__error("[read_csv] %s:%lld: unexpected text after a quoted field",
                             c->path, (long long)c->line);
    } else {
        while (c->p < c->end && *c->p != c->delim && *c->p != '\n') {
            if (push_char(c, *c->p) != 0) return -1;
            c->p++;
        }
        while (c->flen > 0 && (c->field[c->flen - 1] == ' ' || c->field[c->flen - 1] == '\t' ||
                               c->field[c->flen - 1] == '\r'))
            c->field[--c->flen] = '\0';
    }
    if (c->p >= c->end) {
        *last = true;
    } else if (*c->p == '\n') {
        *last = true;
        c->p++;
        c->line++;
    } else {
        *last = false;
        c->p++;                        /* the delimiter */
    }
    return 0;
}

static bool is_missing(const char *s)
{
    static const char *const words[] = {"", "NA", "N/A", "NaN", "nan", "NAN", "NULL",
                                        "null", "None"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(s, words[i]) == 0) return true;
    return false;
}

/* Parses a numeric field; false when it is not a number. */
static bool parse_number(const char *s, float *out)
{
    if (is_missing(s)) {
        *out = NAN;
        return true;
    }
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0') return false;
    *out = (float)v;                   /* out-of-range values become +-inf */
    return true;
}

/* Skips blank lines (only spaces, tabs or \r) at c->p. */
static void skip_blank_lines(csv_parser *c)
{
    for (;;) {
        const char *q = c->p;
        while (q < c->end && (*q == ' ' || *q == '\t' || *q == '\r') && *q != c->delim) q++;
        if (q < c->end && *q == '\n') {
            c->p = q + 1;
            c->line++;
        } else if (q >= c->end) {
            c->p = q;
            return;
        } else {
            return;
        }
    }
}

static void free_names(char **names, int n)
{
    if (!names) return;
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

ty_array *ty_load_csv(const char *path, bool header, char delimiter, ty_device device,
                      char ***names, int *ncols)
{
    if (names) *names = NULL;
    if (ncols) *ncols = 0;
    if (!path) return ty__error_null("[read_csv] no path given");
    if (delimiter == '"' || delimiter == '\n' || delimiter == '\r' || delimiter == '\0')
        return ty__error_null("[read_csv] %s: invalid delimiter", path);
    int64_t len = 0;
    char *text = read_all(path, &len);
    if (!text) return NULL;
    csv_parser c = {.path = path, .p = text, .end = text + len, .line = 1, .delim = delimiter};
    /* a UTF-8 byte order mark */
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) c.p += 3;
    char **hnames = NULL;
    int cols = 0, hcap = 0;
    float *vals = NULL;
    int64_t nvals = 0, vcap = 0, rows = 0;
    ty_array *out = NULL;
    bool failed = false;

    skip_blank_lines(&c);
    if (header && c.p < c.end) {
        bool last = false;
        while (!last) {
            if (next_field(&c, &last) != 0) goto fail;
            if (cols == hcap) {
                hcap = hcap ? hcap * 2 : 16;
                char **nn = realloc(hnames, sizeof *nn * (size_t)hcap);
                if (!nn) goto oom;
                hnames = nn;
            }
            hnames[cols] = strdup(c.field);
            if (!hnames[cols]) goto oom;
            cols++;
        }
    }
    for (;;) {
        skip_blank_lines(&c);
        if (c.p >= c.end) break;
        int col = 0;
        bool last = false;
        int64_t record_line = c.line;
        while (!last) {
            if (next_field(&c, &last) != 0) goto fail;
            col++;
            if (cols && col > cols) {
                ty__error("[read_csv] %s:%lld: %d columns or more, expected %d", path,
                          (long long)record_line, col, cols);
                goto fail;
            }
            float v;
            if (!parse_number(c.field, &v)) {
                ty__error("[read_csv] %s:%lld, column %d: '%.40s' is not a number", path,
                          (long long)c.field_line, col, c.field);
                goto fail;
            }
            if (nvals == vcap) {
                vcap = vcap ? vcap * 2 : 1024;
                if (vcap > CSV_MAX_BYTES) goto oom;
                float *nv = realloc(vals, sizeof *nv * (size_t)vcap);
                if (!nv) goto oom;
                vals = nv;
            }
            vals[nvals++] = v;
        }
        if (!cols) cols = col;
        if (col != cols) {
            ty__error("[read_csv] %s:%lld: %d column%s, expected %d", path,
                      (long long)record_line, col, col == 1 ? "" : "s", cols);
            goto fail;
        }
        rows++;
    }
    int64_t shape[2] = {rows, cols};
    ty_device cpu = {TY_CPU, 0};
    ty_array *host = ty__array_new_buffer(2, shape, TY_FLOAT32, cpu);
    if (!host) goto fail;
    if (nvals) memcpy(host->buffer->data, vals, sizeof *vals * (size_t)nvals);
    if (device.kind == TY_CPU) {
        out = host;
    } else {
        out = ty_to_device(host, device);
        ty_release(host);
        if (!out) goto fail;
    }
    goto done;
oom:
    ty__error("[read_csv] %s: out of host memory", path);
fail:
    failed = true;
done:
    free(text);
    free(vals);
    free(c.field);
    if (failed || !names) {
        free_names(hnames, hnames ? cols : 0);
        hnames = NULL;
    }
    if (failed) return NULL;
    if (names) *names = hnames;
    if (ncols) *ncols = cols;
    return out;
}
