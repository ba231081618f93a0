/*
 * viz.h -- tycho's visualisation layer: figures drawn through libplot (PNG,
 * SVG, PostScript), terminal plots with Unicode braille, graphviz rendering
 * (libgvc) and DOT parsing (libcgraph), and a small PNG reader for tests.
 * Prefix viz_. No Lua here (DESIGN.md: repl -> lua -> {viz, core}).
 *
 * Functions return 0 (or a pointer) on success, -1 (or NULL) on error with a
 * message readable through viz_error() (thread-local), e.g.
 * "[plot] PDF output is not supported by libplot: use .png, .svg or .ps".
 */
#ifndef TYCHO_VIZ_H
#define TYCHO_VIZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The last error message of this thread ("" when none). */
const char *viz_error(void);

/* ---------------------------------------------------------------- figures */

typedef enum viz_style {
    VIZ_LINE,                          /* a polyline (NaN/inf values break it) */
    VIZ_SCATTER,                       /* markers only */
    VIZ_LINE_MARKERS,                  /* both */
    VIZ_BARS                           /* bars centred at x, `bar_width` wide, from 0 to y */
} viz_style;

typedef struct viz_series {
    const char *label;                 /* NULL or "": no legend entry */
    const double *x;                   /* NULL: 1, 2, ..., n */
    const double *y;
    int64_t n;                         /* 0: an empty series (drawn as nothing) */
    viz_style style;
    int color;                         /* palette index; -1: the series' position */
    int marker;                        /* libplot marker type; 0: a filled circle */
    double marker_size;                /* 0: default */
    double bar_width;                  /* VIZ_BARS: in x units (0: from the spacing) */
} viz_series;

typedef enum viz_panel_kind {
    VIZ_PANEL_XY,                      /* axes, ticks, series, legend */
    VIZ_PANEL_IMAGES,                  /* a grid of images with captions */
    VIZ_PANEL_HEATMAP                  /* a matrix of coloured cells (confusion matrix) */
} viz_panel_kind;

typedef struct viz_panel {
    viz_panel_kind kind;
    const char *title, *xlabel, *ylabel;   /* each may be NULL */
    /* XY */
    int nseries;
    const viz_series *series;
    bool legend;                       /* draw a legend of labelled series */
    /* IMAGES: nimages images of (channels, h, w) floats (channels 1: gray,
     * 3: RGB), row-major, one after another; shown from vmin (black) to
     * vmax (white); vmin == vmax: the data's range. */
    int nimages, channels, img_h, img_w, img_ncol;
    const float *pixels;
    double vmin, vmax;
    const char *const *captions;       /* nimages entries (NULL entries allowed) or NULL */
    /* HEATMAP: rows x cols values, row-major; labels may be NULL. */
    int rows, cols;
    const double *values;
    const char *const *row_labels;
    const char *const *col_labels;
    bool annotate;                     /* write each value in its cell */
} viz_panel;

typedef struct viz_figure {
    const char *title;                 /* NULL: none */
    int width, height;                 /* pixels (0: 640 per column, 480 per row) */
    int ncol;                          /* panels per row (0: up to 3) */
    int npanels;
    const viz_panel *panels;
} viz_figure;

/* Renders the figure as "png", "svg" or "ps" into a malloc'd buffer. */
int viz_figure_render(const viz_figure *fig, const char *format, char **data, size_t *len);
/* Writes the figure to path atomically; the format comes from the extension
 * (.png, .svg, .ps, .eps); .pdf and others are an error. */
int viz_figure_write(const viz_figure *fig, const char *path);
/* The libplot format for path's extension, or NULL with the error set. */
const char *viz_plot_format(const char *path);

/* "Nice" axis ticks covering [lo, hi]: writes up to max ticks to out and
 * returns their count (at least 2 when lo < hi). */
int viz_nice_ticks(double lo, double hi, int target, double *out, int max);

/* ---------------------------------------------------------------- terminal */

/* A plot of the series (lines; VIZ_SCATTER: points) drawn with Unicode
 * braille characters in `width` x `height` character cells, axes and tick
 * labels included, a title line above when title is given and a legend line
 * below when series are labelled. Returns malloc'd UTF-8 text (lines joined
 * by '\n', no final newline) or NULL. */
/* color: ANSI colours per series (the palette's order). */
char *viz_term_plot(const viz_series *series, int nseries, int width, int height,
                    const char *title, bool color);

/* ---------------------------------------------------------------- graphviz */

/* Lays out DOT text with "dot" and renders it by path's extension (.svg,
 * .png, .pdf, .ps) atomically; .dot/.gv write the text itself. */
int viz_dot_write(const char *dot, const char *path);
/* Lays out and renders into a malloc'd buffer ("svg", "png", "pdf", ...). */
int viz_dot_render(const char *dot, const char *format, char **data, size_t *len);
/* Parses DOT text with libcgraph: node and edge counts, and (when listing is
 * not NULL) a malloc'd text with one line per node "node NAME\tLABEL" and
 * per edge "edge TAIL\tHEAD\tLABEL" (subgraphs included). */
int viz_dot_parse(const char *dot, int *nnodes, int *nedges, char **listing);

/* ---------------------------------------------------------------- PNG */

/* Reads a PNG (bit depth 8, or 1/2/4 for gray and palette; gray, RGB,
 * palette, with or without alpha; not interlaced) as RGB: *rgb is malloc'd
 * width*height*3 bytes (alpha composited over white). */
int viz_png_read(const char *path, int *width, int *height, unsigned char **rgb);

/* Writes a malloc'd copy of the UTF-8 text s converted to ISO Latin-1 (what
 * libplot's fonts show); characters outside it become '?'. */
char *viz_latin1(const char *s);

#endif
