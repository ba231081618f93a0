/* term.c -- plots in the terminal with Unicode braille characters (2x4 dots
 * per character cell), with a y axis, x axis, tick labels, title and legend. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "viz.h"
#include "viz_internal.h"
#include "strbuf.h"

/* ANSI colours in the order of the figure palette (blue, orange->yellow, ...). */
static const int ansi[] = {34, 33, 32, 31, 35, 36, 95, 90, 93, 96};

typedef ty_strbuf sbuf;



static void put_cp(sbuf *b, unsigned cp)
{
    char u[4];
    if (cp < 0x80) {
        u[0] = (char)cp;
        ty_strbuf_add(b, u, 1);
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        ty_strbuf_add(b, u, 2);
    } else {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        ty_strbuf_add(b, u, 3);
    }
}

/* Number of code points of UTF-8 text. */
static int u8len(const char *s)
{
    int n = 0;
    for (; *s; s++)
        if ((*s & 0xC0) != 0x80) n++;
    return n;
}

/* Appends at most `max` code points of s; returns how many were written. */
static int put_trunc(sbuf *b, const char *s, int max)
{
    int n = 0;
    const char *p = s;
    while (*p && n < max) {
        const char *q = p + 1;
        while (*q && (*q & 0xC0) == 0x80) q++;
        ty_strbuf_add(b, p, (size_t)(q - p));
        p = q;
        n++;
    }
    return n;
}

static void spaces(sbuf *b, int n)
{
    for (int i = 0; i < n; i++) ty_strbuf_add(b, " ", 1);
}

static const unsigned char dot_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

typedef struct canvas {
    int cols, rows;                    /* cells */
    unsigned char *bits;
    signed char *color;                /* series index per cell, -1 none */
} canvas;

static void set_dot(canvas *cv, int x, int y, int k)
{
    if (x < 0 || y < 0 || x >= cv->cols * 2 || y >= cv->rows * 4) return;
    int ci = (y / 4) * cv->cols + x / 2;
    cv->bits[ci] |= dot_bit[y % 4][x % 2];
    cv->color[ci] = (signed char)(k % 10);
}

static void line(canvas *cv, int x0, int y0, int x1, int y1, int k)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
        set_dot(cv, x0, y0, k);
        if (x0 == x1 && y0 == y1) break;
        int e2 = 2 * err;
        if (e2 >= dy) err += dy, x0 += sx;
        if (e2 <= dx) err += dx, y0 += sy;
    }
}

/* The dot (0..n-1) of v in [lo, hi]: halves keep spans past the double range
 * finite, and the result is clamped (never a wild Bresenham walk). */
static int map_dot(double v, double lo, double hi, int n, bool from_top)
{
    double t = (from_top ? hi * 0.5 - v * 0.5 : v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    return (int)lround(t * (n - 1));
}

char *viz_term_plot(const viz_series *series, int nseries, int width, int height,
                    const char *title, bool color)
{
    bool has_title = title && *title;
    bool has_legend = false;
    for (int k = 0; k < nseries; k++)
        if (series[k].label && *series[k].label) has_legend = true;
    /* ranges */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int k = 0; k < nseries; k++) {
        const viz_series *s = &series[k];
        for (int64_t i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : (double)(i + 1), y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < xlo) xlo = x;
            if (x > xhi) xhi = x;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
        }
    }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (!(ylo <= yhi)) ylo = 0, yhi = 1;
    if (xlo == xhi) xlo -= 1, xhi += 1;
    if (ylo == yhi) {
        double d = ylo != 0 ? fabs(ylo) * 0.1 : 1;
        ylo -= d, yhi += d;
    }
    int rows = height - 2 - has_title - has_legend;
    /* y tick labels and the gutter */
    double yt[32];
    int ytarget = rows / 3 + 2 > 2 ? rows / 3 + 2 : 2;
    int nyt = viz_nice_ticks(ylo, yhi, ytarget, yt, 32);
    double ystep = nyt >= 2 ? yt[1] - yt[0] : yhi - ylo;
    if (nyt >= 2 && rows >= 2) {
        /* extend the range to whole ticks, so the top and bottom rows are labelled */
        ylo = floor(ylo / ystep + 1e-9) * ystep;
        yhi = ceil(yhi / ystep - 1e-9) * ystep;
        nyt = viz_nice_ticks(ylo, yhi, ytarget, yt, 32);
        ystep = nyt >= 2 ? yt[1] - yt[0] : yhi - ylo;
    }
    char lab[64];
    int gutter = 1;
    for (int i = 0; i < nyt; i++) {
        viz__fmt_tick(yt[i], ystep, lab, sizeof lab);
        int l = (int)strlen(lab);
        if (l > gutter) gutter = l;
    }
    int cols = width - gutter - 1;
    if (rows < 2 || cols < 4 || width > 4096 || height > 1024) {
        viz__error("[plot.term] a %dx%d plot is too small (or too large) to draw", width, height);
        return NULL;
    }
    canvas cv = {cols, rows, calloc((size_t)cols * rows, 1), malloc((size_t)cols * rows)};
    if (!cv.bits || !cv.color) {
        free(cv.bits), free(cv.color);
        viz__error("[plot.term] out of memory");
        return NULL;
    }
    memset(cv.color, -1, (size_t)cols * rows);
    int dw = cols * 2, dh = rows * 4;
#define PX(v) map_dot((v), xlo, xhi, dw, false)
#define PY(v) map_dot((v), ylo, yhi, dh, true)
    for (int k = 0; k < nseries; k++) {
        const viz_series *s = &series[k];
        int ci = s->color >= 0 ? s->color : k;
        bool have = false;
        int lx = 0, ly = 0;
        for (int64_t i = 0; i < s->n; i++) {
            double x = s->x ? s->x[i] : (double)(i + 1), y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) {
                have = false;
                continue;
            }
            int px = PX(x), py = PY(y);
            if (s->style == VIZ_SCATTER || !have) set_dot(&cv, px, py, ci);
            else line(&cv, lx, ly, px, py, ci);
            lx = px, ly = py, have = true;
        }
    }
    /* rows carrying y ticks */
    int *row_tick = malloc(sizeof(int) * (size_t)rows);
    if (!row_tick) {
        free(cv.bits), free(cv.color);
        viz__error("[plot.term] out of memory");
        return NULL;
    }
    for (int r = 0; r < rows; r++) row_tick[r] = -1;
    for (int i = 0; i < nyt; i++) {
        int r = PY(yt[i]) / 4;
        if (r >= 0 && r < rows) row_tick[r] = i;
    }

    sbuf b = {0};
    if (has_title) {
        int tl = u8len(title);
        int pad = tl < width ? (width - tl) / 2 : 0;
        spaces(&b, pad);
        int n = put_trunc(&b, title, width - pad);
        spaces(&b, width - pad - n);
        ty_strbuf_adds(&b, "\n");
    }
    for (int r = 0; r < rows; r++) {
        if (row_tick[r] >= 0) {
            viz__fmt_tick(yt[row_tick[r]], ystep, lab, sizeof lab);
            spaces(&b, gutter - (int)strlen(lab));
            ty_strbuf_adds(&b, lab);
            put_cp(&b, 0x2524); /* ┤ */
        } else {
            spaces(&b, gutter);
            put_cp(&b, 0x2502); /* │ */
        }
        int cur = -1;
        for (int c = 0; c < cols; c++) {
            int ci = r * cols + c;
            if (cv.bits[ci]) {
                if (color && cv.color[ci] != cur) {
                    snprintf(lab, sizeof lab, "\033[%dm", ansi[(int)cv.color[ci]]);
                    ty_strbuf_adds(&b, lab);
                    cur = cv.color[ci];
                }
                put_cp(&b, 0x2800u + cv.bits[ci]);
            } else {
                ty_strbuf_add(&b, " ", 1);
            }
        }
        if (color && cur >= 0) ty_strbuf_adds(&b, "\033[0m");
        ty_strbuf_adds(&b, "\n");
    }
    /* x axis and its tick labels */
    double xt[32];
    int nxt = viz_nice_ticks(xlo, xhi, cols / 10 + 2, xt, 32);
    double xstep = nxt >= 2 ? xt[1] - xt[0] : xhi - xlo;
    char *axis_row = malloc((size_t)cols + 1), *label_row = malloc((size_t)width + 1);
    if (axis_row && label_row) {
        memset(axis_row, 0, (size_t)cols + 1);
        memset(label_row, ' ', (size_t)width);
        label_row[width] = 0;
        int last_end = -1;
        for (int i = 0; i < nxt; i++) {
            int c = PX(xt[i]) / 2;
            if (c < 0 || c >= cols) continue;
            viz__fmt_tick(xt[i], xstep, lab, sizeof lab);
            int l = (int)strlen(lab);
            int start = gutter + 1 + c - l / 2;
            if (start < 0) start = 0;
            if (start + l > width) start = width - l;
            if (start <= last_end || start < 0) continue;
            memcpy(label_row + start, lab, (size_t)l);
            last_end = start + l;
            axis_row[c] = 1;
        }
        spaces(&b, gutter);
        put_cp(&b, 0x2514); /* └ */
        for (int c = 0; c < cols; c++) put_cp(&b, axis_row[c] ? 0x252C : 0x2500); /* ┬ ─ */
        ty_strbuf_adds(&b, "\n");
        ty_strbuf_adds(&b, label_row);
    } else {
        b.failed = true;
    }
    free(axis_row);
    free(label_row);
    if (has_legend) {
        ty_strbuf_adds(&b, "\n");
        int used = 0;
        for (int k = 0; k < nseries && used < width; k++) {
            const viz_series *s = &series[k];
            if (!s->label || !*s->label) continue;
            int ci = (s->color >= 0 ? s->color : k) % 10;
            if (used > 0 && used + 2 < width) {
                spaces(&b, 2);
                used += 2;
            }
            if (used + 2 > width) break;
            if (color) {
                snprintf(lab, sizeof lab, "\033[%dm", ansi[ci]);
                ty_strbuf_adds(&b, lab);
            }
            put_cp(&b, 0x28FF); /* ⣿ */
            if (color) ty_strbuf_adds(&b, "\033[0m");
            ty_strbuf_add(&b, " ", 1);
            used += 2;
            used += put_trunc(&b, s->label, width - used);
        }
        spaces(&b, width - used);
    }
#undef PX
#undef PY
    free(row_tick);
    free(cv.bits);
    free(cv.color);
    if (b.failed || !b.p) {
        free(b.p);
        viz__error("[plot.term] out of memory");
        return NULL;
    }
    return b.p;
}
