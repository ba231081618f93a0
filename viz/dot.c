/* dot.c -- graphviz: DOT text laid out with "dot" and rendered through libgvc
 * (SVG, PNG, PDF, PS), and DOT parsed with libcgraph (counts, listings). */
#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tycho.h"
#include "viz.h"
#include "viz_internal.h"
#include "strbuf.h"

static GVC_t *gvc;
static char gv_msg[512];

/* Collects graphviz's messages instead of printing them. */
static int gv_err(char *msg)
{
    size_t n = strlen(gv_msg);
    if (n + 1 < sizeof gv_msg) snprintf(gv_msg + n, sizeof gv_msg - n, "%s", msg);
    return 0;
}

static void gv_begin(void)
{
    gv_msg[0] = 0;
    agseterrf(gv_err);
}

static const char *gv_message(void)
{
    size_t n = strlen(gv_msg);
    while (n > 0 && (gv_msg[n - 1] == '\n' || gv_msg[n - 1] == ' ')) gv_msg[--n] = 0;
    return gv_msg[0] ? gv_msg : "unknown error";
}

static Agraph_t *parse(const char *dot, const char *fname)
{
    gv_begin();
    Agraph_t *g = agmemread(dot);
    if (!g) viz__error("[%s] the DOT text does not parse: %s", fname, gv_message());
    return g;
}

int viz_dot_render(const char *dot, const char *format, char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (!gvc && !(gvc = gvContext())) return viz__error("[dot] graphviz could not start");
    Agraph_t *g = parse(dot, "dot");
    if (!g) return -1;
    if (gvLayout(gvc, g, "dot") != 0) {
        viz__error("[dot] graphviz layout failed: %s", gv_message());
        agclose(g);
        return -1;
    }
    char *out = NULL;
    unsigned int n = 0;
    int rc = gvRenderData(gvc, g, format, &out, &n);
    gvFreeLayout(gvc, g);
    agclose(g);
    if (rc != 0 || !out) {
        if (out) gvFreeRenderData(out);
        return viz__error("[dot] graphviz cannot render format '%s': %s", format,
                          gv_message());
    }
    char *copy = malloc(n ? n : 1);
    if (!copy) {
        gvFreeRenderData(out);
        return viz__error("[dot] out of memory");
    }
    memcpy(copy, out, n);
    gvFreeRenderData(out);
    *data = copy;
    *len = n;
    return 0;
}

int viz_dot_write(const char *dot, const char *path)
{
    const char *ext = viz__ext(path);
    if (strcasecmp(ext, "dot") == 0 || strcasecmp(ext, "gv") == 0) {
        Agraph_t *g = parse(dot, "dot");
        if (!g) return -1;
        agclose(g);
        if (ty_write_file_atomic(path, dot, strlen(dot)) != 0)
            return viz__error("[dot] %s", ty_error_message());
        return 0;
    }
    const char *format = NULL;
    if (strcasecmp(ext, "svg") == 0) format = "svg";
    else if (strcasecmp(ext, "png") == 0) format = "png";
    else if (strcasecmp(ext, "pdf") == 0) format = "pdf";
    else if (strcasecmp(ext, "ps") == 0 || strcasecmp(ext, "eps") == 0) format = "ps";
    else
        return viz__error("[dot] unknown file type '%s': use .dot, .gv, .svg, .png, .pdf or .ps",
                          path);
    char *data;
    size_t len;
    if (viz_dot_render(dot, format, &data, &len) != 0) return -1;
    int rc = ty_write_file_atomic(path, data, len);
    free(data);
    if (rc != 0) return viz__error("[dot] %s", ty_error_message());
    return 0;
}

/* Appends a, then s1, s2, s3 where not NULL. */
static void lput(ty_strbuf *b, const char *a, const char *s1, const char *s2, const char *s3)
{
    const char *parts[4] = {a, s1, s2, s3};
    for (int i = 0; i < 4; i++)
        if (parts[i]) ty_strbuf_adds(b, parts[i]);
}

int viz_dot_parse(const char *dot, int *nnodes, int *nedges, char **listing)
{
    if (listing) *listing = NULL;
    Agraph_t *g = parse(dot, "dot");
    if (!g) return -1;
    *nnodes = agnnodes(g);
    *nedges = agnedges(g);
    if (listing) {
        ty_strbuf b = {0};
        lput(&b, "", NULL, NULL, NULL);
        for (Agnode_t *n = agfstnode(g); n; n = agnxtnode(g, n)) {
            char *label = agget(n, "label");
            lput(&b, "node ", agnameof(n), "\t", label ? label : "");
            lput(&b, "\n", NULL, NULL, NULL);
        }
        for (Agnode_t *n = agfstnode(g); n; n = agnxtnode(g, n)) {
            for (Agedge_t *e = agfstout(g, n); e; e = agnxtout(g, e)) {
                char *label = agget(e, "label");
                lput(&b, "edge ", agnameof(agtail(e)), "\t", agnameof(aghead(e)));
                lput(&b, "\t", label ? label : "", "\n", NULL);
            }
        }
        if (b.failed) {
            free(b.p);
            agclose(g);
            return viz__error("[dot] out of memory");
        }
        *listing = b.p;
    }
    agclose(g);
    return 0;
}
