/* plot.c -- figures (panels of line/scatter/bar series, image grids,
 * heatmaps) drawn through GNU libplot into PNG, SVG or PostScript. */
#include <math.h>
#include <stdio.h>
#include <plot.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tycho.h"
#include "viz.h"
#include "viz_internal.h"

/* Matplotlib's "tab10" colours. */
static const int palette[10][3] = {
    {31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40}, {148, 103, 189},
    {140, 86, 75},  {227, 119, 194}, {127, 127, 127}, {188, 189, 34}, {23, 190, 207},
};

typedef struct ctx {
    plPlotter *pl;
    const char *font;
} ctx;

/* ---------------------------------------------------------------- ticks */

int viz_nice_ticks(double lo, double hi, int target, double *out, int max)
{
    if (max <= 0) return 0;
    if (!(hi > lo) || !isfinite(lo) || !isfinite(hi)) {
        out[0] = lo;
        return 1;
    }
    if (target < 2) target = 2;
    if (!isfinite(hi - lo)) {
        /* a span past the double range: the ends and the middle */
        int n = 0;
        out[n++] = lo;
        if (max > 2) out[n++] = lo * 0.5 + hi * 0.5;
        if (max > 1) out[n++] = hi;
        return n;
    }
    double raw = (hi - lo) / (target - 1);
    double mag = pow(10.0, floor(log10(raw)));
    double f = raw / mag;
    double step = (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
    double start = ceil(lo / step - 1e-9) * step;
    int n = 0;
    for (;;) {
        double v = start + n * step;
        if (v > hi + step * 1e-9 || n >= max) break;
        out[n++] = fabs(v) < step * 1e-9 ? 0.0 : v;
    }
    return n;
}

void viz__fmt_tick(double v, double step, char *buf, size_t size)
{
    double a = fabs(v);
    if ((a >= 1e6 || (step > 0 && step < 1e-4)) && a != 0) {
        snprintf(buf, size, "%.3g", v);
        return;
    }
    int dec = 0;
    if (step > 0 && step < 1) dec = (int)ceil(-log10(step) - 1e-9);
    if (dec > 8) dec = 8;
    snprintf(buf, size, "%.*f", dec, v);
    if (strcmp(buf, "-0") == 0) snprintf(buf, size, "0");
}

/* ---------------------------------------------------------------- drawing */

static void pen(ctx *c, int r, int g, int b) { pl_pencolor_r(c->pl, r * 257, g * 257, b * 257); }
static void fill(ctx *c, int r, int g, int b) { pl_fillcolor_r(c->pl, r * 257, g * 257, b * 257); }

static double text_width(ctx *c, double size, const char *s)
{
    if (!s || !*s) return 0;
    char *t = viz_latin1(s);
    if (!t) return 0;
    pl_fontname_r(c->pl, c->font);
    pl_ffontsize_r(c->pl, size);
    double w = pl_flabelwidth_r(c->pl, t);
    free(t);
    return w;
}

/* Draws s at (x, y) justified by hj ('l','c','r') and vj ('b','c','t'). */
static void text(ctx *c, double x, double y, int hj, int vj, double size, double angle,
                 const char *s)
{
    if (!s || !*s) return;
    char *t = viz_latin1(s);
    if (!t) return;
    pl_fontname_r(c->pl, c->font);
    pl_ffontsize_r(c->pl, size);
    pl_ftextangle_r(c->pl, angle);
    pl_fmove_r(c->pl, x, y);
    pl_alabel_r(c->pl, hj, vj, t);
    pl_ftextangle_r(c->pl, 0);
    free(t);
}

static void box(ctx *c, double x0, double y0, double x1, double y1, bool filled)
{
    pl_filltype_r(c->pl, filled ? 1 : 0);
    pl_fbox_r(c->pl, x0, y0, x1, y1);
    pl_filltype_r(c->pl, 0);
}

/* ---------------------------------------------------------------- XY panels */

typedef struct axis {
    double lo, hi;
    double ticks[32];
    int nticks;
    double step;
} axis;

/* (v - lo) / (hi - lo), with halves so that spans past the double range
 * (hi - lo = inf) stay finite; halving is exact, so results are unchanged
 * otherwise. */
static double frac(double v, double lo, double hi)
{
    return (v * 0.5 - lo * 0.5) / (hi * 0.5 - lo * 0.5);
}

static void axis_setup(axis *ax, double lo, double hi, bool pad, int target)
{
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (lo == hi) {
        double d = lo != 0 ? fabs(lo) * 0.1 : 0.5;
        lo -= d, hi += d;
    } else if (pad) {
        double d = (hi * 0.5 - lo * 0.5) * 0.08;
        if (isfinite(lo - d) && isfinite(hi + d)) lo -= d, hi += d;
    }
    ax->lo = lo, ax->hi = hi;
    ax->nticks = viz_nice_ticks(lo, hi, target, ax->ticks, 32);
    ax->step = ax->nticks >= 2 ? ax->ticks[1] - ax->ticks[0] : (hi - lo);
}

static double sx(const viz_series *s, int64_t i) { return s->x ? s->x[i] : (double)(i + 1); }

static double bar_width(const viz_series *s)
{
    if (s->bar_width > 0) return s->bar_width;
    double w = INFINITY;
    for (int64_t i = 1; i < s->n; i++) {
        double d = fabs(sx(s, i) - sx(s, i - 1));
        if (d > 0 && isfinite(d) && d < w) w = d;
    }
    return isfinite(w) ? w * 0.9 : 0.8;
}

static const int *series_color(const viz_series *s, int k)
{
    int ci = s->color >= 0 ? s->color : k;
    return palette[ci % 10];
}

static void draw_marker(ctx *c, const viz_series *s, double x, double y)
{
    int type = s->marker > 0 ? s->marker : 16;
    double size = s->marker_size > 0 ? s->marker_size : (s->style == VIZ_SCATTER ? 7 : 6);
    pl_fmarker_r(c->pl, x, y, type, size);
}

static void draw_xy(ctx *c, const viz_panel *p, double x0, double y0, double w, double h)
{
    double fs = 12, ls = 13, ts = 15;
    /* data ranges */
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    bool bars = false;
    for (int k = 0; k < p->nseries; k++) {
        const viz_series *s = &p->series[k];
        double bw = s->style == VIZ_BARS ? bar_width(s) : 0;
        for (int64_t i = 0; i < s->n; i++) {
            double x = sx(s, i), y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x - bw / 2 < xlo) xlo = x - bw / 2;
            if (x + bw / 2 > xhi) xhi = x + bw / 2;
            if (y < ylo) ylo = y;
            if (y > yhi) yhi = y;
            if (s->style == VIZ_BARS) {
                bars = true;
                if (0 < ylo) ylo = 0;
                if (0 > yhi) yhi = 0;
            }
        }
    }
    if (!(xlo <= xhi)) xlo = 0, xhi = 1;
    if (!(ylo <= yhi)) ylo = 0, yhi = 1;
    axis X, Y;
    axis_setup(&X, xlo, xhi, true, w > 400 ? 7 : 5);
    axis_setup(&Y, ylo, yhi, true, h > 300 ? 6 : 4);
    if (bars && ylo == 0 && Y.lo < 0) Y.lo = 0; /* bars stand on the axis */
    (void)bars;

    char buf[64];
    double ytw = 0;
    for (int i = 0; i < Y.nticks; i++) {
        viz__fmt_tick(Y.ticks[i], Y.step, buf, sizeof buf);
        double tw = text_width(c, fs, buf);
        if (tw > ytw) ytw = tw;
    }
    double top = (p->title && *p->title) ? 34 : 14;
    double left = 14 + ((p->ylabel && *p->ylabel) ? ls + 10 : 0) + ytw + 10;
    double bottom = 12 + ((p->xlabel && *p->xlabel) ? ls + 10 : 0) + fs + 10;
    double right = 18;
    double ax = x0 + left, ay = y0 + bottom, aw = w - left - right, ah = h - top - bottom;
    if (aw < 10) aw = 10;
    if (ah < 10) ah = 10;
#define MX(v) (ax + frac((v), X.lo, X.hi) * aw)
#define MY(v) (ay + frac((v), Y.lo, Y.hi) * ah)

    /* grid */
    pl_flinewidth_r(c->pl, 1);
    pen(c, 225, 225, 225);
    for (int i = 0; i < X.nticks; i++) pl_fline_r(c->pl, MX(X.ticks[i]), ay, MX(X.ticks[i]), ay + ah);
    for (int i = 0; i < Y.nticks; i++) pl_fline_r(c->pl, ax, MY(Y.ticks[i]), ax + aw, MY(Y.ticks[i]));
    pl_endpath_r(c->pl);

    /* series */
    for (int k = 0; k < p->nseries; k++) {
        const viz_series *s = &p->series[k];
        const int *col = series_color(s, k);
        pen(c, col[0], col[1], col[2]);
        fill(c, col[0], col[1], col[2]);
        if (s->style == VIZ_BARS) {
            double bw = bar_width(s);
            pl_flinewidth_r(c->pl, 1);
            pen(c, col[0] * 3 / 4, col[1] * 3 / 4, col[2] * 3 / 4);
            for (int64_t i = 0; i < s->n; i++) {
                double x = sx(s, i), y = s->y[i];
                if (!isfinite(x) || !isfinite(y) || y == 0) continue;
                box(c, MX(x - bw / 2), MY(0), MX(x + bw / 2), MY(y), true);
            }
            continue;
        }
        if (s->style == VIZ_LINE || s->style == VIZ_LINE_MARKERS) {
            pl_flinewidth_r(c->pl, 2);
            pl_joinmod_r(c->pl, "round");
            int64_t run = 0;
            double lastx = 0, lasty = 0;
            for (int64_t i = 0; i <= s->n; i++) {
                bool ok = i < s->n && isfinite(sx(s, i)) && isfinite(s->y[i]);
                if (ok) {
                    double x = MX(sx(s, i)), y = MY(s->y[i]);
                    if (run == 0) pl_fmove_r(c->pl, x, y);
                    else pl_fcont_r(c->pl, x, y);
                    lastx = x, lasty = y;
                    run++;
                } else {
                    if (run == 1) { /* an isolated point: show it */
                        pl_endpath_r(c->pl);
                        pl_fmarker_r(c->pl, lastx, lasty, 16, 5);
                    }
                    pl_endpath_r(c->pl);
                    run = 0;
                }
            }
        }
        if (s->style == VIZ_SCATTER || s->style == VIZ_LINE_MARKERS) {
            pl_flinewidth_r(c->pl, 1);
            for (int64_t i = 0; i < s->n; i++) {
                double x = sx(s, i), y = s->y[i];
                if (!isfinite(x) || !isfinite(y)) continue;
                draw_marker(c, s, MX(x), MY(y));
            }
        }
    }

    /* frame, ticks, tick labels */
    pl_flinewidth_r(c->pl, 1);
    pen(c, 0, 0, 0);
    box(c, ax, ay, ax + aw, ay + ah, false);
    for (int i = 0; i < X.nticks; i++) {
        double x = MX(X.ticks[i]);
        pl_fline_r(c->pl, x, ay, x, ay - 5);
        viz__fmt_tick(X.ticks[i], X.step, buf, sizeof buf);
        text(c, x, ay - 8, 'c', 't', fs, 0, buf);
    }
    for (int i = 0; i < Y.nticks; i++) {
        double y = MY(Y.ticks[i]);
        pl_fline_r(c->pl, ax, y, ax - 5, y);
        viz__fmt_tick(Y.ticks[i], Y.step, buf, sizeof buf);
        text(c, ax - 8, y, 'r', 'c', fs, 0, buf);
    }
    pl_endpath_r(c->pl);
    text(c, ax + aw / 2, y0 + 12, 'c', 'b', ls, 0, p->xlabel);
    text(c, x0 + 14, ay + ah / 2, 'c', 't', ls, 90, p->ylabel);
    text(c, ax + aw / 2, y0 + h - 12, 'c', 't', ts, 0, p->title);

    /* legend */
    if (p->legend) {
        int n = 0;
        double lw = 0;
        for (int k = 0; k < p->nseries; k++) {
            const char *l = p->series[k].label;
            if (!l || !*l) continue;
            n++;
            double tw = text_width(c, fs, l);
            if (tw > lw) lw = tw;
        }
        if (n > 0) {
            double rowh = fs + 7, bw = 42 + lw + 10, bh = n * rowh + 8;
            /* the corner covering the fewest points of the series (and of
             * their segments, sampled) */
            double cx[4] = {ax + aw - bw - 8, ax + 8, ax + aw - bw - 8, ax + 8};
            double cy[4] = {ay + ah - bh - 8, ay + ah - bh - 8, ay + 8, ay + 8};
            long hits[4] = {0, 0, 0, 0};
            for (int k = 0; k < p->nseries; k++) {
                const viz_series *s = &p->series[k];
                bool seg = s->style == VIZ_LINE || s->style == VIZ_LINE_MARKERS;
                for (int64_t i = 0; i < s->n; i++) {
                    double x1 = sx(s, i), y1 = s->y[i];
                    if (!isfinite(x1) || !isfinite(y1)) continue;
                    double x0 = x1, y0v = y1;
                    int steps = 1;
                    if (seg && i > 0 && isfinite(sx(s, i - 1)) && isfinite(s->y[i - 1])) {
                        x0 = sx(s, i - 1), y0v = s->y[i - 1], steps = 12;
                    }
                    for (int t = 0; t < steps; t++) {
                        double u = steps > 1 ? (double)t / (steps - 1) : 1;
                        double px = MX(x0 + (x1 - x0) * u), py = MY(y0v + (y1 - y0v) * u);
                        if (s->style == VIZ_BARS) py = (MY(0) + py) / 2;
                        for (int q = 0; q < 4; q++)
                            if (px >= cx[q] - 4 && px <= cx[q] + bw + 4 && py >= cy[q] - 4 &&
                                py <= cy[q] + bh + 4)
                                hits[q]++;
                    }
                }
            }
            int best = 0;
            for (int q = 1; q < 4; q++)
                if (hits[q] < hits[best]) best = q;
            double bx = cx[best], by = cy[best];
            pen(c, 190, 190, 190);
            fill(c, 255, 255, 255);
            box(c, bx, by, bx + bw, by + bh, true);
            int row = 0;
            for (int k = 0; k < p->nseries; k++) {
                const viz_series *s = &p->series[k];
                if (!s->label || !*s->label) continue;
                double y = by + bh - 4 - rowh * (row + 0.5);
                const int *col = series_color(s, k);
                pen(c, col[0], col[1], col[2]);
                fill(c, col[0], col[1], col[2]);
                if (s->style == VIZ_BARS) {
                    box(c, bx + 8, y - 5, bx + 32, y + 5, true);
                } else {
                    if (s->style != VIZ_SCATTER) {
                        pl_flinewidth_r(c->pl, 2);
                        pl_fline_r(c->pl, bx + 8, y, bx + 32, y);
                        pl_endpath_r(c->pl);
                        pl_flinewidth_r(c->pl, 1);
                    }
                    if (s->style != VIZ_LINE) draw_marker(c, s, bx + 20, y);
                }
                pen(c, 0, 0, 0);
                text(c, bx + 40, y, 'l', 'c', fs, 0, s->label);
                row++;
            }
        }
    }
#undef MX
#undef MY
}

/* ---------------------------------------------------------------- images */

static int gray8(double v, double lo, double hi)
{
    double t = hi > lo ? frac(v, lo, hi) : 0;
    if (!(t >= 0)) t = 0; /* NaN too */
    if (t > 1) t = 1;
    return (int)lround(t * 255);
}

static void draw_images(ctx *c, const viz_panel *p, double x0, double y0, double w, double h)
{
    double top = (p->title && *p->title) ? 34 : 8, pad = 6;
    text(c, x0 + w / 2, y0 + h - 12, 'c', 't', 15, 0, p->title);
    int n = p->nimages;
    if (n <= 0 || p->img_h <= 0 || p->img_w <= 0) return;
    int ncol = p->img_ncol > 0 ? p->img_ncol : (int)ceil(sqrt((double)n));
    if (ncol > n) ncol = n;
    int nrow = (n + ncol - 1) / ncol;
    double caph = p->captions ? 18 : 0;
    double cw = (w - 2 * pad) / ncol, ch = (h - top - pad) / nrow;
    double scale = fmin((cw - 6) / p->img_w, (ch - caph - 6) / p->img_h);
    if (scale <= 0) return;
    int64_t plane = (int64_t)p->img_h * p->img_w;
    int64_t per = plane * p->channels;
    double lo = p->vmin, hi = p->vmax;
    if (!(hi > lo)) {
        lo = INFINITY, hi = -INFINITY;
        for (int64_t i = 0; i < per * n; i++) {
            double v = p->pixels[i];
            if (!isfinite(v)) continue;
            if (v < lo) lo = v;
            if (v > hi) hi = v;
        }
        if (!(hi > lo)) hi = lo + 1;
    }
    double fs = fmin(13, fmax(7, cw / 9));
    pl_pentype_r(c->pl, 0);
    for (int k = 0; k < n; k++) {
        int r = k / ncol, q = k % ncol;
        double cx = x0 + pad + q * cw, cy = y0 + h - top - (r + 1) * ch;
        double iw = p->img_w * scale, ih = p->img_h * scale;
        double ix = cx + (cw - iw) / 2, iy = cy + caph + (ch - caph - ih) / 2;
        const float *img = p->pixels + per * k;
        for (int yy = 0; yy < p->img_h; yy++) {
            int xx = 0;
            while (xx < p->img_w) {
                int rgb[3];
                for (int ch3 = 0; ch3 < 3; ch3++) {
                    int cc = p->channels >= 3 ? ch3 : 0;
                    rgb[ch3] = gray8(img[cc * plane + (int64_t)yy * p->img_w + xx], lo, hi);
                }
                int end = xx + 1;
                while (end < p->img_w) {
                    int same = 1;
                    for (int ch3 = 0; ch3 < 3 && same; ch3++) {
                        int cc = p->channels >= 3 ? ch3 : 0;
                        same = gray8(img[cc * plane + (int64_t)yy * p->img_w + end], lo, hi) ==
                               rgb[ch3];
                    }
                    if (!same) break;
                    end++;
                }
                fill(c, rgb[0], rgb[1], rgb[2]);
                double py = iy + (p->img_h - 1 - yy) * scale;
                box(c, ix + xx * scale, py, ix + end * scale, py + scale, true);
                xx = end;
            }
        }
        if (p->captions && p->captions[k]) {
            pl_pentype_r(c->pl, 1);
            pen(c, 0, 0, 0);
            text(c, cx + cw / 2, iy - 3, 'c', 't', fs, 0, p->captions[k]);
            pl_pentype_r(c->pl, 0);
        }
    }
    pl_pentype_r(c->pl, 1);
}

/* ---------------------------------------------------------------- heatmap */

static void heat_color(double t, int *rgb)
{
    /* white -> light blue -> dark blue (like matplotlib's "Blues") */
    static const double stops[3][3] = {{247, 251, 255}, {107, 174, 214}, {8, 48, 107}};
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    int i = t < 0.5 ? 0 : 1;
    double u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
    for (int k = 0; k < 3; k++)
        rgb[k] = (int)lround(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * u);
}

static void draw_heatmap(ctx *c, const viz_panel *p, double x0, double y0, double w, double h)
{
    int R = p->rows, C = p->cols;
    double fs = 12, ls = 13;
    text(c, x0 + w / 2, y0 + h - 12, 'c', 't', 15, 0, p->title);
    if (R <= 0 || C <= 0) return;
    double rlw = 0, clw = 0;
    char buf[64];
    for (int i = 0; i < R; i++) {
        snprintf(buf, sizeof buf, "%d", i + 1);
        double tw = text_width(c, fs, p->row_labels && p->row_labels[i] ? p->row_labels[i] : buf);
        if (tw > rlw) rlw = tw;
    }
    for (int j = 0; j < C; j++) {
        snprintf(buf, sizeof buf, "%d", j + 1);
        double tw = text_width(c, fs, p->col_labels && p->col_labels[j] ? p->col_labels[j] : buf);
        if (tw > clw) clw = tw;
    }
    double top = (p->title && *p->title) ? 34 : 10;
    double left = 12 + ((p->ylabel && *p->ylabel) ? ls + 10 : 0) + rlw + 10;
    double aw0 = w - left - 20;
    double cell0 = aw0 / C;
    bool rotate = clw > cell0 - 4;
    double bottom = 12 + ((p->xlabel && *p->xlabel) ? ls + 10 : 0) + (rotate ? clw : fs) + 10;
    double ah0 = h - top - bottom;
    double cell = fmin(aw0 / C, ah0 / R);
    if (cell <= 0) return;
    double ax = x0 + left + (aw0 - cell * C) / 2, ay = y0 + bottom + (ah0 - cell * R) / 2;
    double vmin = 0, vmax = -INFINITY;
    for (int i = 0; i < R * C; i++) {
        double v = p->values[i];
        if (!isfinite(v)) continue;
        if (v < vmin) vmin = v;
        if (v > vmax) vmax = v;
    }
    if (!(vmax > vmin)) vmax = vmin + 1;
    double afs = fmin(fs, cell * 0.3);
    for (int i = 0; i < R; i++) {
        for (int j = 0; j < C; j++) {
            double v = p->values[(int64_t)i * C + j];
            double t = (v - vmin) / (vmax - vmin);
            int rgb[3];
            heat_color(isfinite(v) ? t : 0, rgb);
            double cx = ax + j * cell, cy = ay + (R - 1 - i) * cell;
            pen(c, 255, 255, 255);
            fill(c, rgb[0], rgb[1], rgb[2]);
            box(c, cx, cy, cx + cell, cy + cell, true);
            if (p->annotate && afs >= 4) {
                if (!isfinite(v)) snprintf(buf, sizeof buf, "%s", isnan(v) ? "nan" : "inf");
                else if (v == floor(v) && fabs(v) < 1e9) snprintf(buf, sizeof buf, "%.0f", v);
                else snprintf(buf, sizeof buf, "%.2g", v);
                if (t > 0.55) pen(c, 255, 255, 255);
                else pen(c, 0, 0, 0);
                text(c, cx + cell / 2, cy + cell / 2, 'c', 'c', afs, 0, buf);
            }
        }
    }
    pen(c, 0, 0, 0);
    box(c, ax, ay, ax + C * cell, ay + R * cell, false);
    for (int i = 0; i < R; i++) {
        snprintf(buf, sizeof buf, "%d", i + 1);
        text(c, ax - 6, ay + (R - 1 - i + 0.5) * cell, 'r', 'c', fs, 0,
             p->row_labels && p->row_labels[i] ? p->row_labels[i] : buf);
    }
    for (int j = 0; j < C; j++) {
        snprintf(buf, sizeof buf, "%d", j + 1);
        const char *l = p->col_labels && p->col_labels[j] ? p->col_labels[j] : buf;
        if (rotate) text(c, ax + (j + 0.5) * cell, ay - 6, 'r', 'c', fs, 90, l);
        else text(c, ax + (j + 0.5) * cell, ay - 6, 'c', 't', fs, 0, l);
    }
    text(c, ax + C * cell / 2, ay - 6 - (rotate ? clw : fs) - 10, 'c', 't', ls, 0, p->xlabel);
    text(c, ax - 6 - rlw - 10, ay + R * cell / 2, 'c', 'b', ls, 90, p->ylabel);
}

/* ---------------------------------------------------------------- figure */

const char *viz_plot_format(const char *path)
{
    const char *ext = viz__ext(path);
    if (strcasecmp(ext, "png") == 0) return "png";
    if (strcasecmp(ext, "svg") == 0) return "svg";
    if (strcasecmp(ext, "ps") == 0 || strcasecmp(ext, "eps") == 0) return "ps";
    if (strcasecmp(ext, "pdf") == 0) {
        viz__error("[plot] PDF output is not supported by libplot: use .png, .svg or .ps "
                   "(convert a .ps with ps2pdf), got '%s'", path);
        return NULL;
    }
    viz__error("[plot] unknown file type '%s': use .png, .svg, .ps or .eps", path);
    return NULL;
}

int viz_figure_render(const viz_figure *fig, const char *format, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    bool bitmap = strcmp(format, "png") == 0;
    if (!bitmap && strcmp(format, "svg") != 0 && strcmp(format, "ps") != 0)
        return viz__error("[plot] unknown format '%s'", format);
    int np = fig->npanels;
    int ncol = fig->ncol > 0 ? fig->ncol : (np < 3 ? (np > 0 ? np : 1) : 3);
    if (ncol > np && np > 0) ncol = np;
    int nrow = np > 0 ? (np + ncol - 1) / ncol : 1;
    double title_h = (fig->title && *fig->title) ? 36 : 0;
    int W = fig->width > 0 ? fig->width : 640 * ncol;
    int H = fig->height > 0 ? fig->height : 480 * nrow + (int)title_h;
    if (W < 64 || H < 64 || W > 16384 || H > 16384)
        return viz__error("[plot] figure size %dx%d is out of range (64..16384)", W, H);

    char *buf = NULL;
    size_t blen = 0;
    FILE *f = open_memstream(&buf, &blen);
    if (!f) return viz__error("[plot] out of memory");
    plPlotterParams *params = pl_newplparams();
    char size[128];
    snprintf(size, sizeof size, "%dx%d", W, H);
    pl_setplparam(params, "BITMAPSIZE", size);
    double scale = 1.0 / 96; /* inches per unit (SVG) */
    if (strcmp(format, "ps") == 0) scale = fmin(7.5 / W, 10.0 / H);
    snprintf(size, sizeof size, "letter,xsize=%.4fin,ysize=%.4fin", W * scale, H * scale);
    pl_setplparam(params, "PAGESIZE", size);
    pl_setplparam(params, "BG_COLOR", (void *)"white");
    pl_setplparam(params, "INTERLACE", (void *)"no");
    plPlotter *pl = pl_newpl_r(format, NULL, f, NULL, params);
    pl_deleteplparams(params);
    if (!pl || pl_openpl_r(pl) < 0) {
        if (pl) pl_deletepl_r(pl);
        fclose(f);
        free(buf);
        return viz__error("[plot] libplot could not open a %s plotter", format);
    }
    ctx c = {pl, bitmap ? "HersheySans" : "Helvetica"};
    pl_fspace_r(pl, 0, 0, W, H);
    pl_erase_r(pl);
    pl_capmod_r(pl, "round");
    if (title_h > 0) {
        pen(&c, 0, 0, 0);
        text(&c, W / 2.0, H - 10, 'c', 't', 18, 0, fig->title);
    }
    double pw = (double)W / ncol, ph = (H - title_h) / nrow;
    for (int k = 0; k < np; k++) {
        const viz_panel *p = &fig->panels[k];
        int r = k / ncol, q = k % ncol;
        double x0 = q * pw, y0 = (H - title_h) - (r + 1) * ph;
        pen(&c, 0, 0, 0);
        pl_flinewidth_r(pl, 1);
        if (p->kind == VIZ_PANEL_XY) draw_xy(&c, p, x0, y0, pw, ph);
        else if (p->kind == VIZ_PANEL_IMAGES) draw_images(&c, p, x0, y0, pw, ph);
        else draw_heatmap(&c, p, x0, y0, pw, ph);
    }
    pl_closepl_r(pl);
    pl_deletepl_r(pl);
    if (fclose(f) != 0 || !buf) {
        free(buf);
        return viz__error("[plot] out of memory");
    }
    if (blen == 0) {
        free(buf);
        return viz__error("[plot] libplot produced no output for %s", format);
    }
    *data = buf;
    *len = blen;
    return 0;
}

int viz_figure_write(const viz_figure *fig, const char *path)
{
    const char *format = viz_plot_format(path);
    if (!format) return -1;
    char *data;
    size_t len;
    if (viz_figure_render(fig, format, &data, &len) != 0) return -1;
    int rc = ty_write_file_atomic(path, data, len);
    free(data);
    if (rc != 0) return viz__error("[plot] %s", ty_error_message());
    return 0;
}
