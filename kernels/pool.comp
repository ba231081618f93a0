#version 450
// pool.comp -- pooling over the last 1..3 axes (handled as 3, leading axes
// of size 1), all leading axes flattened into planes. MODE (constant 1):
//   0 pool: one invocation per output element; max (first maximum, NaN
//     wins) or average (PyTorch's divisor, count_include_pad or not);
//   1 max_pool_select: the value of t at the position of x's window maximum;
//   2 pool_grad: one invocation per input element, gathering the cotangents
//     g of the windows that contain it (max: those whose first maximum it
//     is), in output order, as the CPU kernel accumulates them.
// Inputs have any strides (x, and t or g); out is contiguous. float32
// arithmetic; f16/bf16 through common.glsl. Mirrors core/cpu_conv.c.
#include "common.glsl"

layout(constant_id = 1) const int MODE = 0;
layout(constant_id = 2) const int DT = DT_FLOAT32;

// Mirrors vk_pool_params in core/vk_kernels_conv.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, t, dst;
    int64_t n;                  // invocations (elements of out)
    int64_t lead_shape[MAX_DIMS];
    int64_t x_lead[MAX_DIMS];   // x's strides of the leading axes
    int64_t t_lead[MAX_DIMS];   // t's (or g's)
    int64_t xs[3], ts[3];       // spatial strides
    int nlead, kind, count_include_pad, pad_;
    int in_[3], out_[3], k[3], s[3], d[3], lo[3], hi[3], pad2_;
};

int64_t lead_off(Params p, int64_t l, bool of_t)
{
    int64_t off = 0;
    for (int a = p.nlead - 1; a >= 0; a--) {
        int64_t sz = p.lead_shape[a];
        int64_t c = l % sz;
        l /= sz;
        off += c * (of_t ? p.t_lead[a] : p.x_lead[a]);
    }
    return off;
}

// First maximum of window (o0, o1, o2) of the plane at xo: its spatial
// position packed as i0, i1, i2 in found (found.x < 0: empty window).
ivec3 argmax_window(Params p, int64_t xo, int o0, int o1, int o2)
{
    ivec3 best = ivec3(-1);
    float bv = 0.0;
    for (int k0 = 0; k0 < p.k[0]; k0++) {
        int i0 = o0 * p.s[0] - p.lo[0] + k0 * p.d[0];
        if (i0 < 0 || i0 >= p.in_[0]) continue;
        for (int k1 = 0; k1 < p.k[1]; k1++) {
            int i1 = o1 * p.s[1] - p.lo[1] + k1 * p.d[1];
            if (i1 < 0 || i1 >= p.in_[1]) continue;
            for (int k2 = 0; k2 < p.k[2]; k2++) {
                int i2 = o2 * p.s[2] - p.lo[2] + k2 * p.d[2];
                if (i2 < 0 || i2 >= p.in_[2]) continue;
                float v = load_f(p.x, DT, xo + int64_t(i0) * p.xs[0] + int64_t(i1) * p.xs[1] +
                                              int64_t(i2) * p.xs[2]);
                if (best.x < 0 || v > bv || (isnan(v) && !isnan(bv))) {
                    bv = v;
                    best = ivec3(i0, i1, i2);
                }
            }
        }
    }
    return best;
}

// Average window of output (o0, o1, o2): clipped bounds and divisor.
float avg_window(Params p, ivec3 o, out ivec3 a, out ivec3 b)
{
    int full = 1, real = 1;
    for (int ax = 0; ax < 3; ax++) {
        int st = o[ax] * p.s[ax] - p.lo[ax];
        int en = min(st + p.k[ax], p.in_[ax] + p.hi[ax]);
        full *= en - st;
        st = max(st, 0);
        en = min(en, p.in_[ax]);
        a[ax] = st;
        b[ax] = max(en, st);
        real *= b[ax] - a[ax];
    }
    return float(p.count_include_pad != 0 ? full : real);
}

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    ivec3 sz = MODE == 2 ? ivec3(p.in_[0], p.in_[1], p.in_[2])
                         : ivec3(p.out_[0], p.out_[1], p.out_[2]);
    int64_t vol = int64_t(sz.x) * sz.y * sz.z;
    int64_t l = int64_t(id) / vol;
    int e = int(int64_t(id) % vol);
    ivec3 c = ivec3(e / (sz.y * sz.z), (e / sz.z) % sz.y, e % sz.z);
    int64_t xo = lead_off(p, l, false), to = lead_off(p, l, true);

    if (MODE != 2) {
        if (p.kind == 0 || MODE == 1) {
            ivec3 m = argmax_window(p, xo, c.x, c.y, c.z);
            float v;
            if (m.x < 0) v = MODE == 1 ? 0.0 : uintBitsToFloat(0xff800000u);
            else if (MODE == 1)
                v = load_f(p.t, DT, to + int64_t(m.x) * p.ts[0] + int64_t(m.y) * p.ts[1] +
                                        int64_t(m.z) * p.ts[2]);
            else
                v = load_f(p.x, DT, xo + int64_t(m.x) * p.xs[0] + int64_t(m.y) * p.xs[1] +
                                        int64_t(m.z) * p.xs[2]);
            store_f(p.dst, DT, int64_t(id), v);
            return;
        }
        ivec3 a, b;
        float div = avg_window(p, c, a, b);
        float s = 0.0;
        for (int i0 = a.x; i0 < b.x; i0++)
            for (int i1 = a.y; i1 < b.y; i1++)
                for (int i2 = a.z; i2 < b.z; i2++)
                    s += load_f(p.x, DT, xo + int64_t(i0) * p.xs[0] + int64_t(i1) * p.xs[1] +
                                             int64_t(i2) * p.xs[2]);
        store_f(p.dst, DT, int64_t(id), div > 0.0 ? s / div : 0.0);
        return;
    }

    // pool_grad: windows o with o*s - lo <= i*... containing input c
    ivec3 omin, omax;
    for (int ax = 0; ax < 3; ax++) {
        int num = c[ax] + p.lo[ax] - (p.k[ax] - 1) * p.d[ax];
        omin[ax] = num <= 0 ? 0 : (num + p.s[ax] - 1) / p.s[ax];
        omax[ax] = min((c[ax] + p.lo[ax]) / p.s[ax], p.out_[ax] - 1);
    }
    float acc = 0.0;
    for (int o0 = omin.x; o0 <= omax.x; o0++)
        for (int o1 = omin.y; o1 <= omax.y; o1++)
            for (int o2 = omin.z; o2 <= omax.z; o2++) {
                float gv = load_f(p.t, DT, to + int64_t(o0) * p.ts[0] + int64_t(o1) * p.ts[1] +
                                               int64_t(o2) * p.ts[2]);
                if (p.kind == 0) {
                    if (argmax_window(p, xo, o0, o1, o2) == c) acc += gv;
                } else {
                    ivec3 a, b;
                    float div = avg_window(p, ivec3(o0, o1, o2), a, b);
                    if (div > 0.0) acc += gv / div;
                }
            }
    store_f(p.dst, DT, int64_t(id), acc);
}
