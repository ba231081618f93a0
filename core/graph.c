/* graph.c -- evaluation: iterative topological sort, views, dispatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

volatile int ty__interrupted;
static uint64_t visit_epoch;

void ty_interrupt(void) { ty__interrupted = 1; }
void ty_interrupt_clear(void) { ty__interrupted = 0; }

/* Sets out's strides and offset as a view of its evaluated input; returns
 * false when the op needs a kernel instead (reshape of a strided input). */
static bool make_view(ty_array *out)
{
    ty_node *n = out->node;
    ty_array *in = n->ninputs ? n->inputs[0] : NULL;
    switch (n->op) {
    case TY_OP_RESHAPE:
        if (!ty__is_contiguous(in)) return false;
        ty__contiguous_strides(out->ndim, out->shape, out->strides);
        out->offset = in->offset;
        break;
    case TY_OP_TRANSPOSE:
        for (int d = 0; d < out->ndim; d++) out->strides[d] = in->strides[n->params.axes[d]];
        out->offset = in->offset;
        break;
    case TY_OP_BROADCAST_TO: {
        int lead = out->ndim - in->ndim;
        for (int d = 0; d < out->ndim; d++) {
            int s = d - lead;
            out->strides[d] = (s < 0 || (in->shape[s] == 1 && out->shape[d] != 1))
                                  ? 0 : in->strides[s];
        }
        out->offset = in->offset;
        break;
    }
    case TY_OP_SLICE:
        out->offset = in->offset;
        for (int d = 0; d < out->ndim; d++) {
            if (out->shape[d] > 0) out->offset += n->params.start[d] * in->strides[d];
            out->strides[d] = in->strides[d] * n->params.step[d];
        }
        break;
    default:
        return false;
    }
    out->buffer = in->buffer;
    ty__buffer_retain(in->buffer);
    return true;
}

/* Nodes recorded into one command buffer before it is submitted, so that
 * Ctrl-C can stop a long evaluation between chunks. */
#define VK_CHUNK_NODES 512

/* Computes one node whose inputs are all evaluated; *recorded is set when a
 * device backend recorded work for it. */
static int run_node(ty_array *a, bool *recorded)
{
    *recorded = false;
    if (make_view(a)) return 0;
    const ty_backend *backend = ty__backend_for(a->device);
    if (!backend) {
        char buf[16];
        return ty__error("[eval] no backend for device %s",
                         ty_device_string(a->device, buf, sizeof buf));
    }
    a->buffer = ty__buffer_alloc(a->device, (size_t)a->size * ty_dtype_size(a->dtype));
    if (!a->buffer) return -1;
    ty__contiguous_strides(a->ndim, a->shape, a->strides);
    a->offset = 0;
    if (backend->run_node(a) != 0) {
        ty__buffer_release(a->buffer);
        a->buffer = NULL;
        return -1;
    }
    *recorded = a->device.kind != TY_CPU;
    return 0;
}

typedef struct frame {
    ty_array *a;
    int next;
} frame;

/* Appends the unevaluated arrays reachable from roots to *order, inputs
 * before their consumers, without recursion. */
static int topo_sort(ty_array *const *roots, int nroots, ty_array ***order, int64_t *count)
{
    uint64_t epoch = ++visit_epoch;
    int64_t cap = 64, n = 0, depth_cap = 64, depth = 0;
    ty_array **out = malloc(sizeof *out * (size_t)cap);
    frame *stack = malloc(sizeof *stack * (size_t)depth_cap);
    if (!out || !stack) goto oom;
    /* roots in reverse: gradients come in forward order of their layers, and
     * finishing the last layer's first frees its backward intermediates
     * before the earlier layers need memory */
    for (int r = nroots - 1; r >= 0; r--) {
        ty_array *root = roots[r];
        if (!root || root->buffer || root->visit == epoch) continue;
        root->visit = epoch;
        stack[depth++] = (frame){root, 0};
        while (depth) {
            frame *f = &stack[depth - 1];
            if (f->next < f->a->node->ninputs) {
                ty_array *child = f->a->node->inputs[f->next++];
                if (child->buffer || child->visit == epoch) continue;
                child->visit = epoch;
                if (depth == depth_cap) {
                    depth_cap *= 2;
                    frame *s = realloc(stack, sizeof *s * (size_t)depth_cap);
                    if (!s) goto oom;
                    stack = s;
                }
                stack[depth++] = (frame){child, 0};
                continue;
            }
            if (n == cap) {
                cap *= 2;
                ty_array **o = realloc(out, sizeof *o * (size_t)cap);
                if (!o) goto oom;
                out = o;
            }
            out[n++] = f->a;
            depth--;
        }
    }
    free(stack);
    *order = out;
    *count = n;
    return 0;
oom:
    free(out);
    free(stack);
    return ty__error("[eval] out of host memory while sorting the graph");
}

int ty_eval(ty_array *const *arrays, int n)
{
    for (int i = 0; i < n; i++)
        if (!arrays[i]) return ty__error("[eval] NULL array");
    ty_array **order = NULL;
    int64_t count = 0;
    if (topo_sort(arrays, n, &order, &count) != 0) return -1;
    int rc = 0;
    int64_t pending = 0;                /* device nodes recorded, not submitted */
    bool device_used = false;
    for (int64_t i = 0; i < count; i++) {
        if (ty__interrupted) {
            ty__interrupted = 0;
            rc = ty__error("interrupted");
            break;
        }
        ty_array *a = order[i];
        bool recorded;
        device_used |= a->device.kind != TY_CPU;
        if (run_node(a, &recorded) != 0) {
            rc = -1;
            break;
        }
        /* Dropping the node releases the inputs: an intermediate buffer is
         * freed as soon as its last consumer has run (a device block goes
         * back to its cache; recorded work that uses it stays ordered). */
        if (!ty__retain_graph) ty__detach_node(a);
        if (recorded) {
            if (++pending == VK_CHUNK_NODES) {
                pending = 0;
                if (ty__vk_backend.synchronize() != 0) {
                    rc = -1;
                    break;
                }
            }
        }
    }
    free(order);
    const ty_backend *cpu = &ty__cpu_backend;
    if (cpu->synchronize) cpu->synchronize();
    if (device_used) {
        /* Submits what is recorded and waits; a kernel's error (a bad index)
         * surfaces here. An earlier error keeps its message. */
        char saved[1024] = "";
        if (rc != 0) snprintf(saved, sizeof saved, "%s", ty_error_message());
        if (ty__vk_backend.synchronize() != 0 && rc == 0) rc = -1;
        else if (rc != 0) ty__error("%s", saved);
    }
    return rc;
}
