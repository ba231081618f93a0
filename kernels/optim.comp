#version 450
// optim.comp -- fused optimizer steps (optim_update), host side
// vk_optim_update in core/vk_kernels_optim.c; formulas and hp layouts in
// core/ops_optim.c, same arithmetic as core/cpu_optim.c (float32).
//
// One invocation per parameter element: loads param, grad and the states,
// writes the new param to row 0 of the output and the new states to rows
// 1..NSTATE (the output is (1 + NSTATE, n), contiguous).
//
// Specialization constants: 1 KIND (ty_optim_kind), 2 NSTATE, 3 DT_OUT,
// 4..8 DT_IN0..DT_IN4 (param, grad, states), 9 CONTIG (every input
// contiguous: index by the linear id, else strided through Params).

#include "common.glsl"

layout(constant_id = 1) const int KIND = 0;
layout(constant_id = 2) const int NSTATE = 0;
layout(constant_id = 3) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 4) const int DT_IN0 = DT_FLOAT32;
layout(constant_id = 5) const int DT_IN1 = DT_FLOAT32;
layout(constant_id = 6) const int DT_IN2 = DT_FLOAT32;
layout(constant_id = 7) const int DT_IN3 = DT_FLOAT32;
layout(constant_id = 8) const int DT_IN4 = DT_FLOAT32;
layout(constant_id = 9) const int CONTIG = 1;

#define K_SGD 0
#define K_ADAM 1
#define K_RMSPROP 2
#define K_ADAGRAD 3
#define K_ADADELTA 4
#define K_ADAMAX 5
#define K_LION 6

// Mirrors vk_optim_params in core/vk_kernels_optim.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst;
    uint64_t n;
    uint64_t src[5];
    int ndim;
    int pad;
    int64_t shape[MAX_DIMS];
    int64_t strides[5 * MAX_DIMS];
    float hp[12];
};

int dt_in(int k)
{
    switch (k) {
    case 0: return DT_IN0;
    case 1: return DT_IN1;
    case 2: return DT_IN2;
    case 3: return DT_IN3;
    default: return DT_IN4;
    }
}

float load_in(Params P, int k, uint64_t i)
{
    int64_t off;
    if (CONTIG != 0) {
        off = int64_t(i);
    } else {
        int64_t sh[MAX_DIMS], st[MAX_DIMS];
        for (int d = 0; d < MAX_DIMS; d++) {
            sh[d] = P.shape[d];
            st[d] = P.strides[k * MAX_DIMS + d];
        }
        off = strided_offset(i, P.ndim, sh, st);
    }
    return load_f(P.src[k], dt_in(k), off);
}

void main()
{
    Params P = Params(pc.params);
    uint64_t i = linear_id();
    uint64_t n = P.n;
    if (i >= n) return;
    float h[12];
    for (int k = 0; k < 12; k++) h[k] = P.hp[k];
    float p = load_in(P, 0, i);
    float g = load_in(P, 1, i);
    float s[3];
    for (int k = 0; k < 3; k++) s[k] = k < NSTATE ? load_in(P, 2 + k, i) : 0.0;

    if (KIND == K_SGD) {
        float lr = h[0], mom = h[1], damp = h[2], wd = h[3];
        if (wd != 0.0) g = g + wd * p;
        float d = g;
        if (NSTATE > 0) {
            float buf = h[5] != 0.0 ? g : mom * s[0] + (1.0 - damp) * g;
            s[0] = buf;
            d = h[4] != 0.0 ? g + mom * buf : buf;
        }
        p = p - lr * d;
    } else if (KIND == K_ADAM) {
        float lr = h[0], b1 = h[1], b2 = h[2], eps = h[3], wd = h[4];
        if (wd != 0.0) {
            if (h[5] != 0.0) p = p * (1.0 - lr * wd);
            else g = g + wd * p;
        }
        float m = b1 * s[0] + (1.0 - b1) * g;
        float v = b2 * s[1] + (1.0 - b2) * g * g;
        s[0] = m;
        s[1] = v;
        float vh = v;
        if (NSTATE > 2) {
            vh = s[2] > v ? s[2] : v;
            s[2] = vh;
        }
        if (h[9] != 0.0) {
            p = p - h[6] * m;
        } else {
            float denom = sqrt(vh) / h[7] + eps;
            p = p - (h[6] * m + h[8] * g) / denom;
        }
    } else if (KIND == K_RMSPROP) {
        float lr = h[0], alpha = h[1], eps = h[2], wd = h[3], mom = h[4];
        if (wd != 0.0) g = g + wd * p;
        float sq = alpha * s[0] + (1.0 - alpha) * g * g;
        s[0] = sq;
        float avg;
        if (h[5] != 0.0) {
            int k = mom > 0.0 ? 2 : 1;
            float ga = alpha * s[k] + (1.0 - alpha) * g;
            s[k] = ga;
            avg = sqrt(sq - ga * ga) + eps;
        } else {
            avg = sqrt(sq) + eps;
        }
        if (mom > 0.0) {
            float buf = mom * s[1] + g / avg;
            s[1] = buf;
            p = p - lr * buf;
        } else {
            p = p - lr * g / avg;
        }
    } else if (KIND == K_ADAGRAD) {
        float clr = h[0], eps = h[1], wd = h[2];
        if (wd != 0.0) g = g + wd * p;
        float sum = s[0] + g * g;
        s[0] = sum;
        p = p - clr * g / (sqrt(sum) + eps);
    } else if (KIND == K_ADADELTA) {
        float lr = h[0], rho = h[1], eps = h[2], wd = h[3];
        if (wd != 0.0) g = g + wd * p;
        float sq = rho * s[0] + (1.0 - rho) * g * g;
        float d = sqrt(s[1] + eps) / sqrt(sq + eps) * g;
        s[0] = sq;
        s[1] = rho * s[1] + (1.0 - rho) * d * d;
        p = p - lr * d;
    } else if (KIND == K_ADAMAX) {
        float b1 = h[1], b2 = h[2], eps = h[3], wd = h[4], clr = h[5];
        if (wd != 0.0) g = g + wd * p;
        float m = b1 * s[0] + (1.0 - b1) * g;
        float a = b2 * s[1], b = abs(g) + eps;
        float u = a > b ? a : b;
        s[0] = m;
        s[1] = u;
        p = p - clr * m / u;
    } else if (KIND == K_LION) {
        float lr = h[0], b1 = h[1], b2 = h[2], wd = h[3];
        if (wd != 0.0) p = p * (1.0 - lr * wd);
        float c = b1 * s[0] + (1.0 - b1) * g;
        float sg = c > 0.0 ? 1.0 : (c < 0.0 ? -1.0 : 0.0);
        p = p - lr * sg;
        s[0] = b2 * s[0] + (1.0 - b2) * g;
    }

    store_f(P.dst, DT_OUT, int64_t(i), p);
    for (int k = 0; k < NSTATE; k++) store_f(P.dst, DT_OUT, int64_t(uint64_t(k + 1) * n + i), s[k]);
}
