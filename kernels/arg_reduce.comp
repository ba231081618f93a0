#version 450
// arg_reduce.comp -- argmax, argmin along one axis (core/vk_kernels_reduce.c).
//
// Same layout as reduce.comp: output o scans the line at
// strided_offset(o, kept) with nred elements `rstride` apart, optionally in
// nsplit chunks. The winner is the first extreme; a NaN counts as the
// extreme (the first NaN wins), as on the CPU. Candidates are (value, index)
// pairs, combined by a shared-memory tree.
//   Final pass: dst gets index + base (dtype ODT).
//   Split pass 1 (vals != 0): vals gets the winning value (float32 or
//   int64), dst the index as int64. Pass 2 reads the partials back with
//   idx != 0: the index of an element comes from idx at the same offset.
#include "common.glsl"

#define MODE_GROUP 0
#define MODE_THREAD 1

layout(constant_id = 1) const bool IS_MAX = true;
layout(constant_id = 2) const bool FMODE = true;
layout(constant_id = 3) const int XDT = DT_FLOAT32;
layout(constant_id = 4) const int ODT = DT_INT32;
layout(constant_id = 5) const int MODE = MODE_GROUP;

// Mirrors vk_arg_params in core/vk_kernels_reduce.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst, idx, vals;
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    int64_t nout, nred, nsplit, rstride, base;
    int kn, pad;
};

shared float best_f[gl_WorkGroupSize.x];
shared int64_t best_v[gl_WorkGroupSize.x];
shared int64_t best_i[gl_WorkGroupSize.x];

const int64_t NO_INDEX = int64_t(0x7ffffffffffffffful);

// Whether candidate (v, i) beats (bv, bi).
bool f_better(float v, int64_t i, float bv, int64_t bi)
{
    bool vn = isnan(v), bn = isnan(bv);
    if (vn || bn) return vn && (!bn || i < bi);
    if (v == bv) return i < bi;
    return IS_MAX ? v > bv : v < bv;
}

bool i_better(int64_t v, int64_t i, int64_t bv, int64_t bi)
{
    if (v == bv) return i < bi;
    return IS_MAX ? v > bv : v < bv;
}

// q = a / b, r = a % b; in 32 bits where both fit: faster, and NVIDIA's
// driver 580.159.04 (H200) computed the non-uniform 64-bit pair wrongly in
// reduce.comp's invocation-per-output mode.
void divmod(uint64_t a, uint64_t b, out uint64_t q, out uint64_t r)
{
    if (a <= 0xfffffffful && b <= 0xfffffffful) {
        q = uint64_t(uint(a) / uint(b));
        r = uint64_t(uint(a) % uint(b));
    } else {
        q = a / b;
        r = a - q * b;
    }
}

void main()
{
    Params p = Params(pc.params);
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        kshape[d] = p.kshape[d];
        kstride[d] = p.kstride[d];
    }
    uint64_t nout = uint64_t(p.nout), nsplit = uint64_t(p.nsplit);
    uint64_t nred = uint64_t(p.nred);
    bool group = MODE == MODE_GROUP;
    uint lid = gl_LocalInvocationID.x;
    uint64_t t, o, s;
    if (group) {
        t = uint64_t(gl_WorkGroupID.x) +
            uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);
        if (t >= nout * nsplit) return;         // uniform over the workgroup
        divmod(t, nsplit, o, s);
    } else {
        t = linear_id();
        if (t >= nout * nsplit) return;
        divmod(t, nout, s, o);
    }
    int64_t base = strided_offset(o, p.kn, kshape, kstride);
    int64_t rb = int64_t(nred * s / nsplit), re = int64_t(nred * (s + 1ul) / nsplit);
    int64_t step = group ? int64_t(gl_WorkGroupSize.x) : 1l;
    int64_t rs = p.rstride;
    bool from_idx = p.idx != 0ul;

    float bf = IS_MAX ? uintBitsToFloat(0xff800000u) : uintBitsToFloat(0x7f800000u);
    int64_t bv = IS_MAX ? int64_t(0x8000000000000000ul) : NO_INDEX;
    int64_t bi = NO_INDEX;
    for (int64_t j = rb + (group ? int64_t(lid) : 0l); j < re; j += step) {
        int64_t off = base + j * rs;
        int64_t i = from_idx ? load_i(p.idx, DT_INT64, off) : j;
        if (FMODE) {
            float v = load_f(p.x, XDT, off);
            if (f_better(v, i, bf, bi)) {
                bf = v;
                bi = i;
            }
        } else {
            int64_t v = load_i(p.x, XDT, off);
            if (i_better(v, i, bv, bi)) {
                bv = v;
                bi = i;
            }
        }
    }
    if (group) {
        best_f[lid] = bf;
        best_v[lid] = bv;
        best_i[lid] = bi;
        barrier();
        for (uint h = gl_WorkGroupSize.x / 2u; h > 0u; h >>= 1u) {
            if (lid < h) {
                uint k = lid + h;
                bool take = FMODE ? f_better(best_f[k], best_i[k], best_f[lid], best_i[lid])
                                  : i_better(best_v[k], best_i[k], best_v[lid], best_i[lid]);
                if (take) {
                    best_f[lid] = best_f[lid + h];
                    best_v[lid] = best_v[lid + h];
                    best_i[lid] = best_i[lid + h];
                }
            }
            barrier();
        }
        if (lid != 0u) return;
        bf = best_f[0];
        bv = best_v[0];
        bi = best_i[0];
    }
    if (p.vals != 0ul) {
        if (FMODE) store_f(p.vals, DT_FLOAT32, int64_t(t), bf);
        else store_i(p.vals, DT_INT64, int64_t(t), bv);
    }
    store_i(p.dst, ODT, int64_t(t), bi + p.base);
}
