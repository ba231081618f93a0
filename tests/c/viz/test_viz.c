/* test_viz.c -- C tests of viz/ (libplot figures, braille terminal plots,
 * graphviz rendering and parsing, the PNG reader). A binary of its own
 * (build/tests/c/test_viz) since it links libplot and graphviz; ends with
 * "N passed, N failed". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tycho.h"
#include "viz.h"

static int passed, failed, cur_failed;
static const char *cur;

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed [%s]\n", __FILE__, __LINE__, cur, #cond, \
            viz_error()); cur_failed = 1; } } while (0)
#define RUN(fn) do { cur = #fn; cur_failed = 0; fn(); \
    if (cur_failed) { failed++; fprintf(stderr, "FAIL %s\n", cur); } else passed++; } while (0)

static char dir[64];

static const char *tmp(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", dir, name);
    return buf;
}

static void test_nice_ticks(void)
{
    double t[16];
    int n = viz_nice_ticks(0, 1, 6, t, 16);
    CHECK(n == 6);
    CHECK(fabs(t[5] - 1.0) < 1e-12 && t[0] == 0);
    n = viz_nice_ticks(1, 10, 5, t, 16);
    CHECK(n == 5 && t[0] == 2 && t[4] == 10);
    n = viz_nice_ticks(3, 3, 5, t, 16);
    CHECK(n == 1 && t[0] == 3);
}

static viz_figure one_panel(viz_panel *p, viz_series *s, int ns)
{
    memset(p, 0, sizeof *p);
    p->kind = VIZ_PANEL_XY;
    p->title = "panel";
    p->xlabel = "x";
    p->ylabel = "y";
    p->series = s;
    p->nseries = ns;
    p->legend = true;
    viz_figure f = {.title = NULL, .width = 320, .height = 240, .npanels = 1, .panels = p};
    return f;
}

static void test_png_figure_and_pixels(void)
{
    double x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 4, NAN, 16, INFINITY};
    viz_series s = {.label = "sq", .x = x, .y = y, .n = 5, .style = VIZ_LINE_MARKERS,
                    .color = -1};
    viz_panel p;
    viz_figure f = one_panel(&p, &s, 1);
    CHECK(viz_figure_write(&f, tmp("a.png")) == 0);
    viz_figure e = one_panel(&p, &s, 0);
    CHECK(viz_figure_write(&e, tmp("empty.png")) == 0);
    f = one_panel(&p, &s, 1);
    CHECK(viz_figure_write(&f, tmp("a.png")) == 0);
    int w, h, w2, h2;
    unsigned char *a = NULL, *b = NULL;
    CHECK(viz_png_read(tmp("a.png"), &w, &h, &a) == 0);
    CHECK(viz_png_read(tmp("empty.png"), &w2, &h2, &b) == 0);
    CHECK(w == 320 && h == 240 && w2 == 320 && h2 == 240);
    if (a && b) {
        int diff = 0;
        for (int i = 0; i < w * h; i++) diff += memcmp(a + 3 * i, b + 3 * i, 3) != 0;
        CHECK(diff > 100);
    }
    free(a);
    free(b);
    CHECK(viz_png_read(tmp("missing.png"), &w, &h, &a) == -1);
    CHECK(strstr(viz_error(), "cannot open") != NULL);
}

static void test_formats(void)
{
    double y[3] = {3, 1, 2};
    viz_series s = {.label = NULL, .y = y, .n = 3, .style = VIZ_BARS, .color = 2};
    viz_panel p;
    viz_figure f = one_panel(&p, &s, 1);
    char *data;
    size_t len;
    CHECK(viz_figure_render(&f, "svg", &data, &len) == 0);
    CHECK(len > 500 && strstr(data, "<svg") && strstr(data, "panel"));
    free(data);
    CHECK(viz_figure_render(&f, "ps", &data, &len) == 0);
    CHECK(len > 500 && memcmp(data, "%!PS", 4) == 0);
    free(data);
    CHECK(viz_figure_write(&f, tmp("x.pdf")) == -1);
    CHECK(strstr(viz_error(), "PDF output is not supported by libplot") != NULL);
    CHECK(access(tmp("x.pdf"), F_OK) != 0);
    CHECK(viz_figure_write(&f, tmp("x.gif")) == -1);
    CHECK(strstr(viz_error(), "unknown file type") != NULL);
}

static void test_images_and_heatmap(void)
{
    float px[2 * 4 * 4];
    for (int i = 0; i < 32; i++) px[i] = (float)(i % 16) / 15.0f;
    const char *caps[2] = {"zero", "one"};
    viz_panel p[2];
    memset(p, 0, sizeof p);
    p[0].kind = VIZ_PANEL_IMAGES;
    p[0].nimages = 2, p[0].channels = 1, p[0].img_h = 4, p[0].img_w = 4;
    p[0].pixels = px;
    p[0].captions = caps;
    double cm[4] = {5, 1, 2, 7};
    const char *names[2] = {"a", "b"};
    p[1].kind = VIZ_PANEL_HEATMAP;
    p[1].rows = 2, p[1].cols = 2, p[1].values = cm;
    p[1].row_labels = names, p[1].col_labels = names, p[1].annotate = true;
    viz_figure f = {.title = "both", .npanels = 2, .panels = p};
    CHECK(viz_figure_write(&f, tmp("ih.png")) == 0);
    int w, h;
    unsigned char *rgb = NULL;
    CHECK(viz_png_read(tmp("ih.png"), &w, &h, &rgb) == 0);
    CHECK(w == 1280 && h == 480 + 36);
    free(rgb);
}

static int count_lines(const char *s, int *width_ok, int width)
{
    int n = 0;
    *width_ok = 1;
    const char *p = s;
    while (*p) {
        const char *e = strchr(p, '\n');
        if (!e) e = p + strlen(p);
        int cps = 0;
        for (const char *q = p; q < e; q++) cps += (*q & 0xC0) != 0x80;
        if (cps != width) *width_ok = 0;
        n++;
        p = *e ? e + 1 : e;
    }
    return n;
}

static void test_term_plot(void)
{
    double y[50];
    for (int i = 0; i < 50; i++) y[i] = sin(i / 5.0);
    viz_series s = {.label = "sin", .y = y, .n = 50, .style = VIZ_LINE, .color = -1};
    char *t = viz_term_plot(&s, 1, 40, 12, "title", false);
    CHECK(t != NULL);
    if (t) {
        int ok;
        CHECK(count_lines(t, &ok, 40) == 12);
        CHECK(ok);
        CHECK(strstr(t, "\xe2\xa0") || strstr(t, "\xe2\xa1") || strstr(t, "\xe2\xa2"));
        CHECK(strstr(t, "title") && strstr(t, "sin"));
        free(t);
    }
    CHECK(viz_term_plot(&s, 1, 5, 2, NULL, false) == NULL);
}

static void test_graphviz(void)
{
    const char *dot = "digraph g { a [label=\"A\"]; a -> b [label=\"2x3\"]; b -> c; }";
    int nn = 0, ne = 0;
    char *listing = NULL;
    CHECK(viz_dot_parse(dot, &nn, &ne, &listing) == 0);
    CHECK(nn == 3 && ne == 2);
    CHECK(listing && strstr(listing, "node a\tA") && strstr(listing, "edge a\tb\t2x3"));
    free(listing);
    CHECK(viz_dot_write(dot, tmp("g.svg")) == 0);
    CHECK(viz_dot_write(dot, tmp("g.png")) == 0);
    CHECK(viz_dot_write(dot, tmp("g.dot")) == 0);
    int w, h;
    unsigned char *rgb = NULL;
    CHECK(viz_png_read(tmp("g.png"), &w, &h, &rgb) == 0);
    CHECK(w > 20 && h > 100);
    free(rgb);
    char *data;
    size_t len;
    CHECK(viz_dot_render(dot, "pdf", &data, &len) == 0);
    CHECK(len > 100 && memcmp(data, "%PDF", 4) == 0);
    free(data);
    CHECK(viz_dot_parse("digraph { a -> ", &nn, &ne, NULL) == -1);
    CHECK(strstr(viz_error(), "does not parse") != NULL);
    CHECK(viz_dot_write(dot, tmp("g.bmp2")) == -1);
}

static void test_latin1(void)
{
    char *s = viz_latin1("caf\xc3\xa9 \xe2\x9c\x93");
    CHECK(s && strcmp(s, "caf\xe9 ?") == 0);
    free(s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/tycho_viz_XXXXXX");
    if (!mkdtemp(dir)) return 1;
    RUN(test_nice_ticks);
    RUN(test_png_figure_and_pixels);
    RUN(test_formats);
    RUN(test_images_and_heatmap);
    RUN(test_term_plot);
    RUN(test_graphviz);
    RUN(test_latin1);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
