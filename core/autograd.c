/* autograd.c -- reverse and forward mode over the lazy graph: the walk,
 * cotangent accumulation, stop_gradient, traced inputs, custom VJPs. The
 * per-op rules live in autograd_vjp.c and autograd_jvp.c. */
#include <stdlib.h>
#include <string.h>

#include "ops.h"

int ty__retain_graph;

void ty_retain_graph_begin(void) { ty__retain_graph++; }

void ty_retain_graph_end(void)
{
    if (ty__retain_graph > 0) ty__retain_graph--;
}

/* An identity view of a marked with kind (see TY_VIEW_*). */
static ty_array *identity_view(const char *op, ty_array *a, int kind)
{
    if (ty__check_inputs(op, &a, 1) != 0) return NULL;
    ty_params p = {0};
    p.kind = kind;
    return ty__array_new_node(TY_OP_RESHAPE, 1, &a, &p, a->ndim, a->shape, a->dtype,
                              a->device);
}

ty_array *ty_stop_gradient(ty_array *a)
{
    return identity_view("stop_gradient", a, TY_VIEW_STOP);
}

ty_array *ty_trace_input(ty_array *a)
{
    return identity_view("trace_input", a, TY_VIEW_TRACE);
}

ty_array *ty_custom_vjp(ty_array *output, ty_array *const *inputs, int nin, ty_vjp_fn fn,
                        void *ctx, void (*free_ctx)(void *ctx))
{
    if (!output || !fn || nin < 0) return ty__error_null("[custom_vjp] bad arguments");
    ty_array **all = malloc(sizeof *all * (size_t)(nin + 1));
    ty_custom *c = malloc(sizeof *c);
    if (!all || !c) {
        free(all);
        free(c);
        return ty__error_null("[custom_vjp] out of host memory");
    }
    all[0] = output;
    for (int i = 0; i < nin; i++) all[i + 1] = inputs[i];
    ty_array *out = NULL;
    if (ty__check_inputs("custom_vjp", all, nin + 1) == 0) {
        ty_params p = {0};
        p.kind = TY_VIEW_CUSTOM;
        out = ty__array_new_node(TY_OP_RESHAPE, nin + 1, all, &p, output->ndim,
                                 output->shape, output->dtype, output->device);
    }
    free(all);
    if (!out) {
        free(c);
        return NULL;
    }
    c->fn = fn;
    c->ctx = ctx;
    c->free_ctx = free_ctx;
    out->node->custom = c;
    return out;
}

void ty__custom_free(ty_custom *c)
{
    if (!c) return;
    if (c->free_ctx) c->free_ctx(c->ctx);
    free(c);
}

/* ---------------------------------------------------------------- the walk */

/* A pointer -> slot map (open addressing) local to one transform, so nested
 * transforms (a custom VJP running ty_vjp) do not disturb each other. */
typedef struct walk_entry {
    ty_array *key;
    ty_array *value;                   /* accumulated cotangent or tangent */
    bool target;                       /* an input to differentiate against */
    bool depends;                      /* a target is reachable below it */
} walk_entry;

typedef struct walk {
    walk_entry *slots;
    size_t cap, used;
    bool forward;                      /* jvp: walk into custom nodes' outputs */
    ty_array **order;                  /* inputs before consumers */
    int64_t count;
} walk;

static size_t hash_ptr(const void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* The slot of a (inserting it when `insert`); NULL when absent or when
 * growing the map failed. Growing moves slots: pointers returned earlier are
 * invalid after an insert. */
static walk_entry *walk_find(walk *w, const ty_array *a, bool insert)
{
    if (insert && (w->used + 1) * 2 > w->cap) {
        walk_entry *old = w->slots;
        size_t oldcap = w->cap;
        walk_entry *slots = calloc(oldcap * 2, sizeof *slots);
        if (!slots) return NULL;
        w->slots = slots;
        w->cap = oldcap * 2;
        for (size_t j = 0; j < oldcap; j++) {
            if (!old[j].key) continue;
            size_t k = hash_ptr(old[j].key) & (w->cap - 1);
            while (w->slots[k].key) k = (k + 1) & (w->cap - 1);
            w->slots[k] = old[j];
        }
        free(old);
    }
    size_t j = hash_ptr(a) & (w->cap - 1);
    for (;; j = (j + 1) & (w->cap - 1)) {
        walk_entry *e = &w->slots[j];
        if (e->key == a) return e;
        if (!e->key) {
            if (!insert) return NULL;
            e->key = (ty_array *)a;
            w->used++;
            return e;
        }
    }
}

/* Is input i of a node part of what differentiation flows through? In
 * reverse mode the viewed output of a custom VJP (input 0) is not: fn stands
 * for it; forward mode ignores custom VJPs and follows it. */
static bool walks_input(const walk *w, const ty_array *a, int i)
{
    return w->forward ||
           !(a->node->op == TY_OP_RESHAPE && a->node->params.kind == TY_VIEW_CUSTOM && i == 0);
}

/* Sorts the graph behind roots (stopping at targets and at arrays without a
 * node) and marks which arrays depend on a target. */
static int walk_build(walk *w, ty_array *const *roots, int nroots, ty_array *const *targets,
                      int ntargets, bool forward)
{
    memset(w, 0, sizeof *w);
    w->forward = forward;
    int64_t cap = 64, depth_cap = 64, depth = 0;
    struct frame { ty_array *a; int next; } *stack = malloc(sizeof *stack * (size_t)depth_cap);
    w->order = malloc(sizeof *w->order * (size_t)cap);
    w->cap = 1024;
    w->slots = calloc(w->cap, sizeof *w->slots);
    if (!stack || !w->order || !w->slots) goto oom;
    for (int i = 0; i < ntargets; i++) {
        walk_entry *t = walk_find(w, targets[i], true);
        if (!t) goto oom;
        t->target = t->depends = true;   /* leaves: never pushed */
    }
    for (int r = 0; r < nroots; r++) {
        if (!roots[r]) continue;
        walk_entry *e = walk_find(w, roots[r], false);
        if (e && (e->value == (ty_array *)w || e->target)) continue;   /* seen */
        stack[depth++] = (struct frame){roots[r], 0};
        if (!(e = walk_find(w, roots[r], true))) goto oom;
        if (!e->target) e->value = (ty_array *)w;                       /* mark seen */
        while (depth) {
            struct frame *f = &stack[depth - 1];
            ty_array *a = f->a;
            walk_entry *ea = walk_find(w, a, false);
            bool leaf = !a->node || ea->target;
            if (!leaf && f->next < a->node->ninputs) {
                ty_array *child = a->node->inputs[f->next];
                int i = f->next++;
                if (!walks_input(w, a, i)) continue;
                walk_entry *ec = walk_find(w, child, true);
                if (!ec) goto oom;
                if (ec->value == (ty_array *)w) continue;
                if (!ec->target) ec->value = (ty_array *)w;
                else if (ec->depends) continue;                         /* target seen */
                if (depth == depth_cap) {
                    depth_cap *= 2;
                    void *s = realloc(stack, sizeof *stack * (size_t)depth_cap);
                    if (!s) goto oom;
                    stack = s;
                }
                stack[depth++] = (struct frame){child, 0};
                continue;
            }
            /* all inputs done: depends if a target or an input depends */
            ea->depends = ea->target;
            for (int i = 0; !leaf && i < a->node->ninputs && !ea->depends; i++)
                if (walks_input(w, a, i)) {
                    walk_entry *ec = walk_find(w, a->node->inputs[i], false);
                    ea->depends = ec && ec->depends;
                }
            if (w->count == cap) {
                cap *= 2;
                void *o = realloc(w->order, sizeof *w->order * (size_t)cap);
                if (!o) goto oom;
                w->order = o;
            }
            w->order[w->count++] = a;
            depth--;
        }
    }
    free(stack);
    for (size_t j = 0; j < w->cap; j++)
        if (w->slots[j].value == (ty_array *)w) w->slots[j].value = NULL;
    return 0;
oom:
    free(stack);
    free(w->order);
    free(w->slots);
    memset(w, 0, sizeof *w);
    return ty__error("[grad] out of host memory while walking the graph");
}

static void walk_free(walk *w)
{
    for (size_t j = 0; j < w->cap; j++) ty_release(w->slots[j].value);
    free(w->slots);
    free(w->order);
}

/* Adds g (owned) into the slot's accumulated value. */
static int accumulate(walk_entry *e, ty_array *g)
{
    if (!e->value) {
        e->value = g;
        return 0;
    }
    ty_array *sum = ty_add(e->value, g);
    ty_release(g);
    if (!sum) return -1;
    if (sum->dtype != e->value->dtype) {
        ty_array *c = ty_astype(sum, e->value->dtype);
        ty_release(sum);
        if (!c) return -1;
        sum = c;
    }
    ty_release(e->value);
    e->value = sum;
    return 0;
}

/* Zeros shaped like a, in a float dtype (the gradient of an integer input). */
static ty_array *zero_grad(ty_array *a)
{
    ty_dtype dt = ty_dtype_is_float(a->dtype) ? a->dtype : TY_FLOAT32;
    return ty_zeros(a->ndim, a->shape, dt, a->device);
}

int ty_vjp(ty_array *const *outputs, ty_array *const *cotangents, int nout,
           ty_array *const *inputs, int nin, ty_array **grads)
{
    for (int i = 0; i < nin; i++) grads[i] = NULL;
    for (int j = 0; j < nout; j++) {
        if (!outputs[j]) return ty__error("[vjp] output %d is NULL", j + 1);
        const ty_array *c = cotangents ? cotangents[j] : NULL;
        if (c && !ty__same_shape(c, outputs[j]->ndim, outputs[j]->shape)) {
            char s0[TY_SHAPE_BUF], s1[TY_SHAPE_BUF];
            return ty__error("[vjp] cotangent %d has shape %s, the output %s", j + 1,
                             ty__shp(c, s0), ty__shp(outputs[j], s1));
        }
    }
    for (int i = 0; i < nin; i++)
        if (!inputs[i]) return ty__error("[vjp] input %d is NULL", i + 1);
    walk w;
    if (walk_build(&w, outputs, nout, inputs, nin, false) != 0) return -1;
    int rc = 0;
    for (int j = 0; j < nout && rc == 0; j++) {
        walk_entry *e = walk_find(&w, outputs[j], false);
        if (!e || !e->depends) continue;
        ty_array *c = cotangents && cotangents[j] ? ty__cast(cotangents[j], outputs[j]->dtype)
                                                  : ty_ones_like(outputs[j]);
        rc = c ? accumulate(e, c) : -1;
    }
    for (int64_t k = w.count - 1; k >= 0 && rc == 0; k--) {
        ty_array *a = w.order[k];
        walk_entry *e = walk_find(&w, a, false);
        if (!e->depends || e->target || !e->value || !a->node) continue;
        ty_node *n = a->node;
        if (n->op == TY_OP_RESHAPE && n->params.kind == TY_VIEW_STOP) continue;
        ty_array *stack_grads[8];
        ty_array **in = n->ninputs <= 8 ? stack_grads : calloc((size_t)n->ninputs, sizeof *in);
        if (!in) {
            rc = ty__error("[vjp] out of host memory");
            break;
        }
        for (int i = 0; i < n->ninputs; i++) in[i] = NULL;
        if (n->op == TY_OP_RESHAPE && n->params.kind == TY_VIEW_CUSTOM)
            rc = n->custom->fn(n->custom->ctx, e->value, in + 1);
        else
            rc = ty__vjp_rule(a, e->value, in);
        for (int i = 0; i < n->ninputs; i++) {
            if (!in[i]) continue;
            walk_entry *ei = walk_find(&w, n->inputs[i], false);
            if (rc == 0 && ei && ei->depends && walks_input(&w, a, i)) rc = accumulate(ei, in[i]);
            else ty_release(in[i]);
        }
        if (in != stack_grads) free(in);
        /* this node's cotangent is no longer needed */
        ty_release(e->value);
        e->value = NULL;
    }
    for (int i = 0; i < nin && rc == 0; i++) {
        walk_entry *e = walk_find(&w, inputs[i], false);
        if (e && e->value) {
            grads[i] = ty_retain(e->value);
        } else {
            grads[i] = zero_grad(inputs[i]);
            if (!grads[i]) rc = -1;
        }
    }
    walk_free(&w);
    if (rc != 0)
        for (int i = 0; i < nin; i++) {
            ty_release(grads[i]);
            grads[i] = NULL;
        }
    return rc;
}

int ty_jvp(ty_array *const *outputs, int nout, ty_array *const *inputs,
           ty_array *const *tangents, int nin, ty_array **out_tangents)
{
    for (int j = 0; j < nout; j++) out_tangents[j] = NULL;
    for (int i = 0; i < nin; i++) {
        if (!inputs[i]) return ty__error("[jvp] input %d is NULL", i + 1);
        const ty_array *t = tangents ? tangents[i] : NULL;
        if (t && !ty__same_shape(t, inputs[i]->ndim, inputs[i]->shape)) {
            char s0[TY_SHAPE_BUF], s1[TY_SHAPE_BUF];
            return ty__error("[jvp] tangent %d has shape %s, the input %s", i + 1,
                             ty__shp(t, s0), ty__shp(inputs[i], s1));
        }
    }
    for (int j = 0; j < nout; j++)
        if (!outputs[j]) return ty__error("[jvp] output %d is NULL", j + 1);
    walk w;
    if (walk_build(&w, outputs, nout, inputs, nin, true) != 0) return -1;
    int rc = 0;
    for (int i = 0; i < nin && rc == 0; i++) {
        walk_entry *e = walk_find(&w, inputs[i], false);
        if (e && !e->value && tangents && tangents[i]) {
            e->value = ty__cast(tangents[i], inputs[i]->dtype);
            if (!e->value) rc = -1;
        }
    }
    for (int64_t k = 0; k < w.count && rc == 0; k++) {
        ty_array *a = w.order[k];
        walk_entry *e = walk_find(&w, a, false);
        if (!e->depends || e->target || !a->node) continue;
        ty_node *n = a->node;
        ty_array *stack_t[8];
        ty_array **in = n->ninputs <= 8 ? stack_t : calloc((size_t)n->ninputs, sizeof *in);
        if (!in) {
            rc = ty__error("[jvp] out of host memory");
            break;
        }
        bool any = false;
        for (int i = 0; i < n->ninputs; i++) {
            walk_entry *ei = walk_find(&w, n->inputs[i], false);
            in[i] = ei ? ei->value : NULL;
            any = any || in[i];
        }
        if (any) rc = ty__jvp_rule(a, in, &e->value);
        if (in != stack_t) free(in);
    }
    for (int j = 0; j < nout && rc == 0; j++) {
        walk_entry *e = walk_find(&w, outputs[j], false);
        if (e && e->value) {
            out_tangents[j] = ty_retain(e->value);
        } else {
            out_tangents[j] = zero_grad(outputs[j]);
            if (!out_tangents[j]) rc = -1;
        }
    }
    walk_free(&w);
    if (rc != 0)
        for (int j = 0; j < nout; j++) {
            ty_release(out_tangents[j]);
            out_tangents[j] = NULL;
        }
    return rc;
}
