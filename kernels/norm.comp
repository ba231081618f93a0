#version 450
// norm.comp -- normalize: (x - mean) / sqrt(var + eps) or x / sqrt(mean(x^2) + eps)
// over any set of axes, then * weight + bias when given (views broadcast to
// x's shape, read with their own strides) (core/vk_kernels_nn.c). This is the
// general path; rows of contiguous trailing axes go to norm_row.comp.
// One workgroup per group of the kept axes: the mean, then the sum of squared
// deviations (no cancellation), both combined over the workgroup with
// subgroup ops where SUBGROUP (else a shared-memory tree), then the write. A
// group of at most VPT values per invocation is read once and kept in
// registers; larger ones are read three times. Elements are reached by
// strided indexing over the kept and the reduced dims (the strides read
// from the parameter block), so any axis set and any strides work.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const int XDT = DT_FLOAT32;
layout(constant_id = 2) const int ODT = DT_FLOAT32;
layout(constant_id = 3) const bool SUBGROUP = false;

// The parameter block (the same in norm_row.comp); mirrors norm_params in
// core/vk_kernels_nn.c. Arrays: x, dst, weight w and bias b (views broadcast to x's shape; addresses 0 when absent). k*: the
// kept dims (shape, then strides of x, dst, w, b); r*: the reduced dims.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst, w, b;
    int64_t kshape[MAX_DIMS], kxs[MAX_DIMS], kos[MAX_DIMS], kws[MAX_DIMS], kbs[MAX_DIMS];
    int64_t rshape[MAX_DIMS], rxs[MAX_DIMS], ros[MAX_DIMS], rws[MAX_DIMS], rbs[MAX_DIMS];
    int64_t ngroups, m;
    float eps;
    int kn, rn, rms, has_w, has_b;
};

shared float part[gl_WorkGroupSize.x];

float group_sum(float v)
{
    uint lid = gl_LocalInvocationID.x;
    uint count = gl_WorkGroupSize.x;
    if (SUBGROUP) {
        v = subgroupAdd(v);
        if (subgroupElect()) part[gl_SubgroupID] = v;
        lid = gl_SubgroupID;
        count = gl_NumSubgroups;
    } else {
        part[lid] = v;
    }
    barrier();
    for (uint s = count / 2u; s > 0u; s >>= 1u) {
        if (lid < s && (!SUBGROUP || subgroupElect())) part[lid] = part[lid] + part[lid + s];
        barrier();
    }
    float r = part[0];
    barrier();
    return r;
}

#define VPT 8                                   // values kept per invocation

// Offsets of element j of a group (relative to the group's first) in x and,
// with all, in dst, w and b; the strides are read from the parameter block
// (no private arrays: those would live in local memory).
void roffs(Params p, int64_t j, bool all, out int64_t ox, out int64_t oo, out int64_t ow,
           out int64_t ob)
{
    int rn = p.rn;
    ox = 0; oo = 0; ow = 0; ob = 0;
    if (rn == 1) {
        ox = j * p.rxs[0];
        if (all) { oo = j * p.ros[0]; ow = j * p.rws[0]; ob = j * p.rbs[0]; }
    } else if (p.m <= 0xffffffffl) {
        uint l = uint(j);                      // 32-bit division (see common.glsl)
        for (int d = rn - 1; d >= 0; d--) {
            uint s = uint(p.rshape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            ox += c * p.rxs[d];
            if (all) { oo += c * p.ros[d]; ow += c * p.rws[d]; ob += c * p.rbs[d]; }
        }
    } else {
        uint64_t l = uint64_t(j);
        for (int d = rn - 1; d >= 0; d--) {
            uint64_t s = uint64_t(p.rshape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            ox += c * p.rxs[d];
            if (all) { oo += c * p.ros[d]; ow += c * p.rws[d]; ob += c * p.rbs[d]; }
        }
    }
}

float xval(Params p, int64_t xb, int64_t j)
{
    int64_t ox, oo, ow, ob;
    roffs(p, j, false, ox, oo, ow, ob);
    return load_f(p.x, XDT, xb + ox);
}

// Writes element j of the group: y * weight + bias (each when present).
void put(Params p, int64_t ob_, int64_t wb, int64_t bb, int64_t j, float y)
{
    int64_t ox, oo, ow, obb;
    roffs(p, j, true, ox, oo, ow, obb);
    if (p.has_w != 0) y *= load_f(p.w, XDT, wb + ow);
    if (p.has_b != 0) y += load_f(p.b, XDT, bb + obb);
    store_f(p.dst, ODT, ob_ + oo, y);
}

void main()
{
    Params p = Params(pc.params);
    uint64_t g = uint64_t(gl_WorkGroupID.x) + uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);
    if (g >= uint64_t(p.ngroups)) return;      // uniform over the workgroup
    // the group's first offsets in x, dst, w and b (over the kept dims)
    int64_t xb = 0, ob = 0, wb = 0, bb = 0;
    if (p.ngroups <= 0xffffffffl) {
        uint l = uint(g);
        for (int d = p.kn - 1; d >= 0; d--) {
            uint s = uint(p.kshape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            xb += c * p.kxs[d]; ob += c * p.kos[d]; wb += c * p.kws[d]; bb += c * p.kbs[d];
        }
    } else {
        uint64_t l = g;
        for (int d = p.kn - 1; d >= 0; d--) {
            uint64_t s = uint64_t(p.kshape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            xb += c * p.kxs[d]; ob += c * p.kos[d]; wb += c * p.kws[d]; bb += c * p.kbs[d];
        }
    }
    int64_t m = p.m, wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    bool cached = m <= wg * VPT;
    float vals[VPT];
    float mean = 0.0, s = 0.0;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            vals[k] = 0.0;
            if (j < m) vals[k] = xval(p, xb, j);
            s += vals[k];
        }
    } else if (p.rms == 0) {
        for (int64_t j = lid; j < m; j += wg) s += xval(p, xb, j);
    }
    if (p.rms == 0) mean = group_sum(s) / float(m);
    float ss = 0.0;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            float v = vals[k] - mean;
            if (lid + k * wg < m) ss += v * v;
        }
    } else {
        for (int64_t j = lid; j < m; j += wg) {
            float v = xval(p, xb, j) - mean;
            ss += v * v;
        }
    }
    float r = inversesqrt(group_sum(ss) / float(m) + p.eps);
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            if (j < m) put(p, ob, wb, bb, j, (vals[k] - mean) * r);
        }
    } else {
        for (int64_t j = lid; j < m; j += wg) put(p, ob, wb, bb, j, (xval(p, xb, j) - mean) * r);
    }
}
