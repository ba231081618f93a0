#version 450
// reduce.comp -- sum, prod, max, min, all, any (core/vk_kernels_reduce.c).
//
// The host collapses x into "kept" dims (the output, row-major) and
// "reduced" dims (innermost in memory last), so output o reduces the
// elements strided_offset(o, kept) + strided_offset(j, reduced), j < nred.
// Each output may be split into nsplit chunks (partial results, reduced again
// by a second dispatch of this shader); result t is output o, chunk s.
//   MODE_GROUP:  one workgroup per result (t = o * nsplit + s): each
//                invocation folds a strided part of the chunk, then the
//                workgroup combines (subgroup ops where SUBGROUP, else a
//                shared-memory tree).
//   MODE_THREAD: one invocation per result (t = s * nout + o): for many small
//                reductions and column layouts (neighbouring outputs are
//                neighbours in memory, so loads coalesce).
// FMODE accumulates in float32, otherwise in int64 (sums and products
// wrap). Serial sums are Kahan-compensated; workgroup mode over one reduced
// dim keeps four partials per invocation (four loads in flight) and relies
// on the tree for accuracy. MAX/MIN propagate NaN as the CPU does.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#include "common.glsl"

#define OP_SUM 0
#define OP_PROD 1
#define OP_MAX 2
#define OP_MIN 3
#define OP_ALL 4
#define OP_ANY 5

#define MODE_GROUP 0
#define MODE_THREAD 1

layout(constant_id = 1) const int OP = OP_SUM;
layout(constant_id = 2) const bool FMODE = true;
layout(constant_id = 3) const int XDT = DT_FLOAT32;
layout(constant_id = 4) const int ODT = DT_FLOAT32;
layout(constant_id = 5) const bool SUBGROUP = false;
layout(constant_id = 6) const int MODE = MODE_GROUP;

// Mirrors vk_reduce_params in core/vk_kernels_reduce.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst;
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];   // kept dims (output order)
    int64_t rshape[MAX_DIMS], rstride[MAX_DIMS];   // reduced dims
    int64_t nout, nred, nsplit;
    int kn, rn;
};

shared float red_f[gl_WorkGroupSize.x];
shared int64_t red_i[gl_WorkGroupSize.x];

float f_identity()
{
    switch (OP) {
    case OP_PROD: case OP_ALL: return 1.0;
    case OP_MAX: return uintBitsToFloat(0xff800000u);   // -inf
    case OP_MIN: return uintBitsToFloat(0x7f800000u);   // +inf
    default: return 0.0;
    }
}

int64_t i_identity()
{
    switch (OP) {
    case OP_PROD: case OP_ALL: return 1l;
    case OP_MAX: return int64_t(0x8000000000000000ul);
    case OP_MIN: return int64_t(0x7ffffffffffffffful);
    default: return 0l;
    }
}

// The CPU's f_combine: MAX/MIN keep the first NaN.
float f_combine(float a, float v)
{
    switch (OP) {
    case OP_SUM: return a + v;
    case OP_PROD: return a * v;
    case OP_MAX: return ((v > a || isnan(v)) && !isnan(a)) ? v : a;
    case OP_MIN: return ((v < a || isnan(v)) && !isnan(a)) ? v : a;
    case OP_ALL: return (a != 0.0 && v != 0.0) ? 1.0 : 0.0;
    default: return (a != 0.0 || v != 0.0) ? 1.0 : 0.0;
    }
}

int64_t i_combine(int64_t a, int64_t v)
{
    switch (OP) {
    case OP_SUM: return a + v;
    case OP_PROD: return a * v;
    case OP_MAX: return max(a, v);
    case OP_MIN: return min(a, v);
    case OP_ALL: return (a != 0l && v != 0l) ? 1l : 0l;
    default: return (a != 0l || v != 0l) ? 1l : 0l;
    }
}

// Combination over one subgroup (SUBGROUP only).
float f_subgroup(float v)
{
    switch (OP) {
    case OP_SUM: return subgroupAdd(v);
    case OP_PROD: return subgroupMul(v);
    case OP_MAX: {
        bool nan = subgroupAny(isnan(v));
        float m = subgroupMax(isnan(v) ? f_identity() : v);
        return nan ? uintBitsToFloat(0x7fc00000u) : m;
    }
    case OP_MIN: {
        bool nan = subgroupAny(isnan(v));
        float m = subgroupMin(isnan(v) ? f_identity() : v);
        return nan ? uintBitsToFloat(0x7fc00000u) : m;
    }
    case OP_ALL: return subgroupAll(v != 0.0) ? 1.0 : 0.0;
    default: return subgroupAny(v != 0.0) ? 1.0 : 0.0;
    }
}

// Tree over red_f[0..count) (count a power of two); the result in red_f[0].
void f_tree(uint id, uint count)
{
    for (uint s = count / 2u; s > 0u; s >>= 1u) {
        if (id < s) red_f[id] = f_combine(red_f[id], red_f[id + s]);
        barrier();
    }
}

// Workgroup-wide combination; every invocation must call it.
float f_workgroup(float v)
{
    uint lid = gl_LocalInvocationID.x;
    if (SUBGROUP) {
        v = f_subgroup(v);
        if (subgroupElect()) red_f[gl_SubgroupID] = v;
        barrier();
        f_tree(lid, gl_NumSubgroups);
    } else {
        red_f[lid] = v;
        barrier();
        f_tree(lid, gl_WorkGroupSize.x);
    }
    return red_f[0];
}

int64_t i_workgroup(int64_t v)
{
    uint lid = gl_LocalInvocationID.x;
    red_i[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (lid < s) red_i[lid] = i_combine(red_i[lid], red_i[lid + s]);
        barrier();
    }
    return red_i[0];
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

// Folds elements [rb, re) of the reduced dims, every `step`-th from rb, of
// the output whose first element is at base.
void fold(Params p, int64_t base, int64_t rb, int64_t re, int64_t step,
          out float facc, out int64_t iacc)
{
    int64_t rshape[MAX_DIMS], rstride[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        rshape[d] = p.rshape[d];
        rstride[d] = p.rstride[d];
    }
    int rn = p.rn;
    int64_t s0 = rn == 1 ? rstride[0] : 0l;
    facc = f_identity();
    iacc = i_identity();
    if (rn <= 1 && step > 1) {
        // one reduced dim, workgroup mode: four independent loads in flight
        // per iteration, four partial results (the tree bounds the error)
        float f0 = facc, f1 = facc, f2 = facc, f3 = facc;
        int64_t i0 = iacc, i1 = iacc, i2 = iacc, i3 = iacc;
        int64_t j = rb, d = step * s0;
        for (; j + 3l * step < re; j += 4l * step) {
            int64_t off = base + j * s0;
            if (FMODE) {
                float v0 = load_f(p.x, XDT, off), v1 = load_f(p.x, XDT, off + d);
                float v2 = load_f(p.x, XDT, off + 2l * d), v3 = load_f(p.x, XDT, off + 3l * d);
                f0 = f_combine(f0, v0);
                f1 = f_combine(f1, v1);
                f2 = f_combine(f2, v2);
                f3 = f_combine(f3, v3);
            } else {
                int64_t v0 = load_i(p.x, XDT, off), v1 = load_i(p.x, XDT, off + d);
                int64_t v2 = load_i(p.x, XDT, off + 2l * d), v3 = load_i(p.x, XDT, off + 3l * d);
                i0 = i_combine(i0, v0);
                i1 = i_combine(i1, v1);
                i2 = i_combine(i2, v2);
                i3 = i_combine(i3, v3);
            }
        }
        for (; j < re; j += step) {
            if (FMODE) f0 = f_combine(f0, load_f(p.x, XDT, base + j * s0));
            else i0 = i_combine(i0, load_i(p.x, XDT, base + j * s0));
        }
        facc = f_combine(f_combine(f0, f1), f_combine(f2, f3));
        iacc = i_combine(i_combine(i0, i1), i_combine(i2, i3));
        return;
    }
    precise float comp = 0.0;                   // Kahan compensation
    for (int64_t j = rb; j < re; j += step) {
        int64_t off = base + (rn <= 1 ? j * s0 : strided_offset(uint64_t(j), rn, rshape, rstride));
        if (FMODE) {
            float v = load_f(p.x, XDT, off);
            if (OP == OP_SUM) {
                precise float y = v - comp;
                precise float t = facc + y;
                comp = isinf(t) ? 0.0 : (t - facc) - y;
                facc = t;
            } else {
                facc = f_combine(facc, v);
            }
        } else {
            iacc = i_combine(iacc, load_i(p.x, XDT, off));
        }
    }
}

void store_result(Params p, uint64_t t, float f, int64_t i)
{
    if (FMODE) store_f(p.dst, ODT, int64_t(t), f);
    else store_i(p.dst, ODT, int64_t(t), i);
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
    float f;
    int64_t i;
    if (MODE == MODE_GROUP) {
        uint64_t t = uint64_t(gl_WorkGroupID.x) +
                     uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);
        if (t >= nout * nsplit) return;         // uniform over the workgroup
        uint64_t o, s;
        divmod(t, nsplit, o, s);
        int64_t base = strided_offset(o, p.kn, kshape, kstride);
        int64_t rb = int64_t(nred * s / nsplit), re = int64_t(nred * (s + 1ul) / nsplit);
        fold(p, base, rb + int64_t(gl_LocalInvocationID.x), re,
             int64_t(gl_WorkGroupSize.x), f, i);
        if (FMODE) f = f_workgroup(f);
        else i = i_workgroup(i);
        if (gl_LocalInvocationID.x == 0u) store_result(p, t, f, i);
    } else {
        uint64_t t = linear_id();
        if (t >= nout * nsplit) return;
        uint64_t o, s;
        divmod(t, nout, s, o);
        int64_t base = strided_offset(o, p.kn, kshape, kstride);
        int64_t rb = int64_t(nred * s / nsplit), re = int64_t(nred * (s + 1ul) / nsplit);
        fold(p, base, rb, re, 1l, f, i);
        store_result(p, t, f, i);
    }
}
