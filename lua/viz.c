/* viz.c -- the Lua side of viz/ (plots, graphviz, terminal plots) and graph
 * introspection: ty.node, ty.array_id, x:name, ty.terminal_size. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "binding.h"
#include "args.h"
#include "internal.h"
#include "array.h"
#include "../viz/viz.h"

/* ---------------------------------------------------------------- graph */

static int l_node(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    ty_op op = ty_node_op(a);
    if (op == TY_OP_NONE) {
        lua_pushnil(L);
        return 1;
    }
    int n = ty_node_ninputs(a);
    lua_createtable(L, 0, 3);
    lua_pushstring(L, ty_op_name(op));
    lua_setfield(L, -2, "op");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        ty_array *in = ty_node_input(a, i);
        lty_push(L, ty_retain(in));
        lua_rawseti(L, -2, i + 1);
    }
    lua_setfield(L, -2, "inputs");
    lua_pushinteger(L, (lua_Integer)ty_array_id(a));
    lua_setfield(L, -2, "id");
    /* identity views made by autograd: what they are */
    if (op == TY_OP_RESHAPE && a->node) {
        int kind = a->node->params.kind;
        const char *k = kind == TY_VIEW_TRACE ? "trace" : kind == TY_VIEW_STOP ? "stop_gradient"
                      : kind == TY_VIEW_CUSTOM ? "custom_vjp" : NULL;
        if (k) {
            lua_pushstring(L, k);
            lua_setfield(L, -2, "view");
        }
    }
    return 1;
}

static int l_array_id(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)ty_array_id(lty_check(L, 1)));
    return 1;
}

static int l_name(lua_State *L)
{
    ty_array *a = lty_check(L, 1);
    if (lua_gettop(L) < 2) {
        const char *name = ty_get_name(a);
        if (name) lua_pushstring(L, name);
        else lua_pushnil(L);
        return 1;
    }
    if (!lua_isnil(L, 2) && lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "[name] expected a string or nil, got %s", luaL_typename(L, 2));
    if (ty_set_name(a, lua_tostring(L, 2)) != 0) return lty_error(L);
    lua_settop(L, 1);
    return 1;
}

static int l_terminal_size(lua_State *L)
{
    int cols = 0, rows = 0;
    struct winsize ws;
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
        cols = ws.ws_col;
        rows = ws.ws_row;
    }
    if (cols <= 0) {
        const char *c = getenv("COLUMNS"), *r = getenv("LINES");
        if (c && atoi(c) > 0) cols = atoi(c);
        if (r && atoi(r) > 0) rows = atoi(r);
    }
    if (cols <= 0) cols = 80;
    if (rows <= 0) rows = 24;
    lua_pushinteger(L, cols);
    lua_pushinteger(L, rows);
    return 2;
}

/* ---------------------------------------------------------------- figures
 * ty._viz: the C side of tycho.plot and tycho.dot (private; the Lua modules
 * validate options and document the public functions).
 */

/* Scratch memory owned by the "keep" table at stack index `keep`. */
static void *scratch(lua_State *L, int keep, size_t n)
{
    void *p = lua_newuserdatauv(L, n ? n : 1, 0);
    memset(p, 0, n ? n : 1);
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
    return p;
}

/* Anchors the value on top in keep (popping it). */
static void keep_top(lua_State *L, int keep)
{
    lua_rawseti(L, keep, (lua_Integer)lua_rawlen(L, keep) + 1);
}

/* t[field] as a string or NULL (the string stays referenced by t). */
static const char *field_str(lua_State *L, int t, const char *field)
{
    lua_getfield(L, t, field);
    const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_pop(L, 1);
    return s;
}

static lua_Number field_num(lua_State *L, int t, const char *field, lua_Number def)
{
    lua_getfield(L, t, field);
    lua_Number v = lua_isnumber(L, -1) ? lua_tonumber(L, -1) : def;
    lua_pop(L, 1);
    return v;
}

static bool field_bool(lua_State *L, int t, const char *field, bool def)
{
    lua_getfield(L, t, field);
    bool v = lua_isnil(L, -1) ? def : lua_toboolean(L, -1);
    lua_pop(L, 1);
    return v;
}

/* The numbers at idx (a Lua list of numbers, nil entries as NaN up to n, or
 * an array) as doubles in scratch memory; *n receives the count. */
static double *numbers(lua_State *L, int keep, int idx, int64_t *n, const char *what)
{
    idx = lua_absindex(L, idx);
    ty_array *a = lty_test(L, idx);
    if (a) {
        double *d = lty_host_copy(L, a, TY_FLOAT64);
        keep_top(L, keep);
        *n = ty_size(a);
        return d;
    }
    if (!lua_istable(L, idx))
        luaL_error(L, "[plot] %s must be a list of numbers or an array, got %s", what,
                   luaL_typename(L, idx));
    int64_t len = (int64_t)lua_rawlen(L, idx);
    double *d = scratch(L, keep, sizeof(double) * (size_t)len);
    for (int64_t i = 0; i < len; i++) {
        lua_rawgeti(L, idx, (lua_Integer)i + 1);
        if (lua_isnumber(L, -1)) d[i] = lua_tonumber(L, -1);
        else if (lua_isnil(L, -1)) d[i] = NAN;
        else luaL_error(L, "[plot] %s[%d] must be a number, got %s", what, (int)(i + 1),
                        luaL_typename(L, -1));
        lua_pop(L, 1);
    }
    *n = len;
    return d;
}

/* A list of strings at t[field] (nil entries allowed) or NULL. */
static const char **strings(lua_State *L, int keep, int t, const char *field, int n)
{
    if (lua_getfield(L, t, field) != LUA_TTABLE) {
        lua_pop(L, 1);
        return NULL;
    }
    const char **out = scratch(L, keep, sizeof(char *) * (size_t)(n > 0 ? n : 1));
    int tab = lua_gettop(L);
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, tab, i + 1);
        if (lua_type(L, -1) == LUA_TNUMBER) lua_tostring(L, -1); /* converts in place */
        out[i] = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
        if (out[i]) keep_top(L, keep);
        else lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return out;
}

static viz_style parse_style(lua_State *L, const char *s)
{
    if (!s || strcmp(s, "line") == 0) return VIZ_LINE;
    if (strcmp(s, "scatter") == 0) return VIZ_SCATTER;
    if (strcmp(s, "line_markers") == 0 || strcmp(s, "linespoints") == 0) return VIZ_LINE_MARKERS;
    if (strcmp(s, "bars") == 0) return VIZ_BARS;
    luaL_error(L, "[plot] unknown series style '%s' (line, scatter, line_markers, bars)", s);
    return VIZ_LINE;
}

/* Reads the series list at idx into scratch memory. */
static viz_series *read_series(lua_State *L, int keep, int idx, int *count)
{
    idx = lua_absindex(L, idx);
    int n = lua_istable(L, idx) ? (int)lua_rawlen(L, idx) : 0;
    viz_series *ss = scratch(L, keep, sizeof(viz_series) * (size_t)(n > 0 ? n : 1));
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, idx, k + 1);
        int s = lua_gettop(L);
        if (!lua_istable(L, s)) luaL_error(L, "[plot] series %d must be a table", k + 1);
        viz_series *v = &ss[k];
        v->label = field_str(L, s, "label");
        v->style = parse_style(L, field_str(L, s, "style"));
        v->color = (int)field_num(L, s, "color", 0) - 1;
        v->marker = (int)field_num(L, s, "marker", 0);
        v->marker_size = field_num(L, s, "marker_size", 0);
        v->bar_width = field_num(L, s, "bar_width", 0);
        int64_t ny = 0, nx = 0;
        lua_getfield(L, s, "y");
        v->y = numbers(L, keep, -1, &ny, "y");
        lua_pop(L, 1);
        v->n = ny;
        if (lua_getfield(L, s, "x") != LUA_TNIL) {
            v->x = numbers(L, keep, -1, &nx, "x");
            if (nx != ny)
                luaL_error(L, "[plot] series %d: x has %d values, y has %d", k + 1, (int)nx,
                           (int)ny);
        }
        lua_pop(L, 1);
        lua_settop(L, s - 1);
    }
    *count = n;
    return ss;
}

static void read_panel(lua_State *L, int keep, int t, viz_panel *p)
{
    const char *kind = field_str(L, t, "kind");
    p->title = field_str(L, t, "title");
    p->xlabel = field_str(L, t, "xlabel");
    p->ylabel = field_str(L, t, "ylabel");
    if (!kind || strcmp(kind, "xy") == 0) {
        p->kind = VIZ_PANEL_XY;
        lua_getfield(L, t, "series");
        p->series = read_series(L, keep, -1, &p->nseries);
        lua_pop(L, 1);
        p->legend = field_bool(L, t, "legend", true);
    } else if (strcmp(kind, "images") == 0) {
        p->kind = VIZ_PANEL_IMAGES;
        lua_getfield(L, t, "images");
        ty_array *a = lty_test(L, -1);
        if (!a || ty_ndim(a) != 4)
            luaL_error(L, "[plot.images] expected an (N,C,H,W) array of images");
        if (ty_size(a) == 0 || ty_size(a) > INT32_MAX)
            luaL_error(L, "[plot.images] the images (%d,%d,%d,%d) are empty or too large",
                       (int)ty_dim(a, 0), (int)ty_dim(a, 1), (int)ty_dim(a, 2), (int)ty_dim(a, 3));
        p->nimages = (int)ty_dim(a, 0);
        p->channels = (int)ty_dim(a, 1);
        p->img_h = (int)ty_dim(a, 2);
        p->img_w = (int)ty_dim(a, 3);
        p->pixels = lty_host_copy(L, a, TY_FLOAT32);
        keep_top(L, keep);
        lua_pop(L, 1);
        p->img_ncol = (int)field_num(L, t, "ncol", 0);
        p->vmin = field_num(L, t, "vmin", 0);
        p->vmax = field_num(L, t, "vmax", 0);
        p->captions = strings(L, keep, t, "captions", p->nimages);
    } else if (strcmp(kind, "heatmap") == 0) {
        p->kind = VIZ_PANEL_HEATMAP;
        lua_getfield(L, t, "values");
        ty_array *a = lty_test(L, -1);
        if (!a || ty_ndim(a) != 2) luaL_error(L, "[plot.heatmap] expected a 2-d array");
        if (ty_size(a) == 0 || ty_dim(a, 0) > 4096 || ty_dim(a, 1) > 4096)
            luaL_error(L, "[plot.heatmap] cannot draw a (%d,%d) heatmap (1..4096 rows and columns)",
                       (int)ty_dim(a, 0), (int)ty_dim(a, 1));
        p->rows = (int)ty_dim(a, 0);
        p->cols = (int)ty_dim(a, 1);
        p->values = lty_host_copy(L, a, TY_FLOAT64);
        keep_top(L, keep);
        lua_pop(L, 1);
        p->row_labels = strings(L, keep, t, "row_labels", p->rows);
        p->col_labels = strings(L, keep, t, "col_labels", p->cols);
        p->annotate = field_bool(L, t, "annotate", true);
    } else {
        luaL_error(L, "[plot] unknown panel kind '%s'", kind);
    }
}

/* Reads the figure spec at idx (panels in scratch memory). */
static void read_figure(lua_State *L, int keep, int idx, viz_figure *fig)
{
    luaL_checktype(L, idx, LUA_TTABLE);
    memset(fig, 0, sizeof *fig);
    fig->title = field_str(L, idx, "title");
    fig->width = (int)field_num(L, idx, "width", 0);
    fig->height = (int)field_num(L, idx, "height", 0);
    fig->ncol = (int)field_num(L, idx, "ncol", 0);
    lua_getfield(L, idx, "panels");
    int pt = lua_gettop(L);
    int n = lua_istable(L, pt) ? (int)lua_rawlen(L, pt) : 0;
    viz_panel *ps = scratch(L, keep, sizeof(viz_panel) * (size_t)(n > 0 ? n : 1));
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, pt, k + 1);
        if (!lua_istable(L, -1)) luaL_error(L, "[plot] panel %d must be a table", k + 1);
        read_panel(L, keep, lua_gettop(L), &ps[k]);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    fig->npanels = n;
    fig->panels = ps;
}

/* Raises the viz error (no position: the Lua modules add the caller's). */
static int viz_fail(lua_State *L)
{
    lua_pushstring(L, viz_error());
    return lua_error(L);
}

/* _viz.figure(spec, path): writes the figure (format by extension). */
static int l_figure(lua_State *L)
{
    const char *path = luaL_checkstring(L, 2);
    lua_newtable(L);
    int keep = lua_gettop(L);
    if (!viz_plot_format(path)) return viz_fail(L);
    viz_figure fig;
    read_figure(L, keep, 1, &fig);
    if (viz_figure_write(&fig, path) != 0) return viz_fail(L);
    lua_pushstring(L, path);
    return 1;
}

/* _viz.render(spec, format) -> string */
static int l_render(lua_State *L)
{
    const char *format = luaL_checkstring(L, 2);
    lua_newtable(L);
    int keep = lua_gettop(L);
    viz_figure fig;
    read_figure(L, keep, 1, &fig);
    char *data;
    size_t len;
    if (viz_figure_render(&fig, format, &data, &len) != 0) return viz_fail(L);
    lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

/* _viz.term(series, width, height, title, color) -> string */
static int l_term(lua_State *L)
{
    int width = (int)luaL_checkinteger(L, 2), height = (int)luaL_checkinteger(L, 3);
    const char *title = luaL_optstring(L, 4, NULL);
    bool color = lua_toboolean(L, 5);
    lua_newtable(L);
    int keep = lua_gettop(L);
    int n;
    viz_series *ss = read_series(L, keep, 1, &n);
    char *s = viz_term_plot(ss, n, width, height, title, color);
    if (!s) return viz_fail(L);
    lua_pushstring(L, s);
    free(s);
    return 1;
}

static int l_nice_ticks(lua_State *L)
{
    double t[64];
    int n = viz_nice_ticks(luaL_checknumber(L, 1), luaL_checknumber(L, 2),
                           (int)luaL_optinteger(L, 3, 6), t, 64);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_pushnumber(L, t[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static int l_dot_write(lua_State *L)
{
    if (viz_dot_write(luaL_checkstring(L, 1), luaL_checkstring(L, 2)) != 0)
        return viz_fail(L);
    lua_settop(L, 2);
    return 1;
}

static int l_dot_render(lua_State *L)
{
    char *data;
    size_t len;
    if (viz_dot_render(luaL_checkstring(L, 1), luaL_checkstring(L, 2), &data, &len) != 0)
        return viz_fail(L);
    lua_pushlstring(L, data, len);
    free(data);
    return 1;
}

/* _viz.dot_parse(text) -> {nodes=, edges=, node_list={{name=, label=}},
 * edge_list={{tail=, head=, label=}}} */
static int l_dot_parse(lua_State *L)
{
    int nn, ne;
    char *listing;
    if (viz_dot_parse(luaL_checkstring(L, 1), &nn, &ne, &listing) != 0)
        return viz_fail(L);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, nn);
    lua_setfield(L, -2, "nodes");
    lua_pushinteger(L, ne);
    lua_setfield(L, -2, "edges");
    lua_newtable(L);
    lua_newtable(L);
    int nodes = lua_gettop(L) - 1, edges = lua_gettop(L);
    char *save = NULL;
    for (char *line = strtok_r(listing, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool is_node = strncmp(line, "node ", 5) == 0;
        char *f[3] = {line + 5, NULL, NULL};
        for (int i = 1; i < 3; i++) {
            char *tab = f[i - 1] ? strchr(f[i - 1], '\t') : NULL;
            if (tab) *tab = 0, f[i] = tab + 1;
        }
        lua_newtable(L);
        if (is_node) {
            lua_pushstring(L, f[0]);
            lua_setfield(L, -2, "name");
            lua_pushstring(L, f[1] ? f[1] : "");
            lua_setfield(L, -2, "label");
            lua_rawseti(L, nodes, (lua_Integer)lua_rawlen(L, nodes) + 1);
        } else {
            lua_pushstring(L, f[0]);
            lua_setfield(L, -2, "tail");
            lua_pushstring(L, f[1] ? f[1] : "");
            lua_setfield(L, -2, "head");
            lua_pushstring(L, f[2] ? f[2] : "");
            lua_setfield(L, -2, "label");
            lua_rawseti(L, edges, (lua_Integer)lua_rawlen(L, edges) + 1);
        }
    }
    free(listing);
    lua_setfield(L, -3, "edge_list");
    lua_setfield(L, -2, "node_list");
    return 1;
}

/* _viz.png_read(path) -> width, height, rgb (a string of width*height*3 bytes) */
static int l_png_read(lua_State *L)
{
    int w, h;
    unsigned char *rgb;
    if (viz_png_read(luaL_checkstring(L, 1), &w, &h, &rgb) != 0)
        return viz_fail(L);
    lua_pushinteger(L, w);
    lua_pushinteger(L, h);
    lua_pushlstring(L, (const char *)rgb, (size_t)w * h * 3);
    free(rgb);
    return 3;
}

static const luaL_Reg viz_private[] = {
    {"figure", l_figure},       {"render", l_render},         {"term", l_term},
    {"nice_ticks", l_nice_ticks}, {"dot_write", l_dot_write}, {"dot_render", l_dot_render},
    {"dot_parse", l_dot_parse}, {"png_read", l_png_read},     {NULL, NULL}
};

static const lty_arg_fn graph_fns[] = {
    {"node", l_node,
     "ty.node(a) -> nil | {op=, inputs={...}, id=}\n"
     "  The node behind an unevaluated array: its op name (\"matmul\", \"add\", views\n"
     "  \"reshape\", \"transpose\", \"broadcast_to\", \"slice\", ...), its input arrays\n"
     "  and a's stable id (ty.array_id). nil when a is evaluated (no graph).\n"
     "  Identity views made by autograd also have view=\"trace\" (an input being\n"
     "  differentiated), \"stop_gradient\" or \"custom_vjp\".",
     false},
    {"array_id", l_array_id,
     "ty.array_id(a) -> integer\n  A stable unique id of the array handle (creation order).",
     false},
    {"terminal_size", l_terminal_size,
     "ty.terminal_size() -> cols, rows\n"
     "  The size of the terminal on stdout ($COLUMNS/$LINES, then 80x24, when not one).",
     false},
    {NULL, NULL, NULL, false}
};

void lty_open_viz(lua_State *L)
{
    int ty_idx = lua_gettop(L);
    lty_arg_register(L, ty_idx, ty_idx, graph_fns);
    lua_pushcfunction(L, l_name);
    lty_arg_doc(L, ty_idx,
                "x:name(s) -> x | x:name() -> string | nil\n"
                "  Sets (nil clears) or gets a user-visible name of the array, shown by\n"
                "  ty.dot.graph (e.g. logits:name(\"logits\")).");
    lty_arg_method(L, "name");
    lua_newtable(L);
    luaL_setfuncs(L, viz_private, 0);
    lua_setfield(L, ty_idx, "_viz");
}
