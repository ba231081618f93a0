/*
 * autograd_scope.h -- the temporaries of one autograd rule, shared by
 * core/autograd_vjp.c, autograd_jvp.c and autograd_nn.c.
 *
 * A rule builds its result from many intermediate arrays. Each goes through
 * ty__scope_keep, which records it (the list grows as needed) so that
 * ty__scope_release drops them all when the rule ends; the rules' T()/K()
 * macros skip every further op once one failed, so the first error message
 * is the one reported.
 */
#ifndef TYCHO_AUTOGRAD_SCOPE_H
#define TYCHO_AUTOGRAD_SCOPE_H

#include <stdlib.h>

#include "internal.h"

typedef struct ty__scope {
    ty_array **held;
    int n, cap;
    bool failed;
    ty_dtype dtype;                    /* the rule's output dtype (vjp, nn) */
    ty_device device;
} ty__scope;

/* An empty scope for the rule of out (out may be NULL). */
static inline void ty__scope_init(ty__scope *S, const ty_array *out)
{
    S->held = NULL;
    S->n = S->cap = 0;
    S->failed = false;
    S->dtype = out ? out->dtype : TY_FLOAT32;
    S->device = out ? out->device : (ty_device){TY_CPU, 0};
}

/* Records a (an owned reference, or NULL after a failed op) and returns it. */
static inline ty_array *ty__scope_keep(ty__scope *S, ty_array *a)
{
    if (!a) {
        S->failed = true;
        return NULL;
    }
    if (S->n == S->cap) {
        int cap = S->cap ? 2 * S->cap : 32;
        ty_array **h = realloc(S->held, (size_t)cap * sizeof *h);
        if (!h) {
            ty_release(a);
            S->failed = true;
            ty__error("[autograd] out of host memory");
            return NULL;
        }
        S->held = h;
        S->cap = cap;
    }
    S->held[S->n++] = a;
    return a;
}

/* Releases every recorded array; the scope can be used again. */
static inline void ty__scope_release(ty__scope *S)
{
    for (int i = 0; i < S->n; i++) ty_release(S->held[i]);
    free(S->held);
    S->held = NULL;
    S->n = S->cap = 0;
}

#endif
