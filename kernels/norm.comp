#version 450
// norm.comp -- normalize: (x - mean) / sqrt(var + eps) or x / sqrt(mean(x^2) + eps)
// over any set of axes (core/vk_kernels_nn.c). One workgroup per group of
// the kept axes: the mean, then the sum of squared deviations (no
// cancellation), both combined over the workgroup with subgroup ops where
// SUBGROUP (else a shared-memory tree), then the write. A group of at most
// VPT values per invocation is read once and kept in registers; larger ones
// are read three times. Elements are
// reached by strided indexing over the kept and the reduced dims, so any
// axis set and any input strides work; the output is contiguous.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const int XDT = DT_FLOAT32;
layout(constant_id = 2) const int ODT = DT_FLOAT32;
layout(constant_id = 3) const bool SUBGROUP = false;

// Mirrors norm_params in core/vk_kernels_nn.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst;
    int64_t kshape[MAX_DIMS], kxs[MAX_DIMS], kos[MAX_DIMS];
    int64_t rshape[MAX_DIMS], rxs[MAX_DIMS], ros[MAX_DIMS];
    int64_t ngroups, m;
    float eps;
    int kn, rn, rms;
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

void main()
{
    Params p = Params(pc.params);
    uint64_t g = uint64_t(gl_WorkGroupID.x) + uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);
    if (g >= uint64_t(p.ngroups)) return;      // uniform over the workgroup
    int64_t kshape[MAX_DIMS], kxs[MAX_DIMS], kos[MAX_DIMS];
    int64_t rshape[MAX_DIMS], rxs[MAX_DIMS], ros[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        kshape[d] = p.kshape[d]; kxs[d] = p.kxs[d]; kos[d] = p.kos[d];
        rshape[d] = p.rshape[d]; rxs[d] = p.rxs[d]; ros[d] = p.ros[d];
    }
    int kn = p.kn, rn = p.rn;
    bool one = rn == 1;                        // one reduced dim: no divisions
    int64_t m = p.m, wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    int64_t xb = strided_offset(g, kn, kshape, kxs);
    int64_t ob = strided_offset(g, kn, kshape, kos);
    bool cached = m <= wg * VPT;
    float vals[VPT];
    float mean = 0.0, s = 0.0;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            vals[k] = 0.0;
            if (j < m) {
                int64_t o = one ? j * rxs[0] : strided_offset(uint64_t(j), rn, rshape, rxs);
                vals[k] = load_f(p.x, XDT, xb + o);
            }
            s += vals[k];
        }
    } else if (p.rms == 0) {
        for (int64_t j = lid; j < m; j += wg)
            s += load_f(p.x, XDT, xb + (one ? j * rxs[0] : strided_offset(uint64_t(j), rn, rshape, rxs)));
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
            float v = load_f(p.x, XDT, xb + (one ? j * rxs[0] : strided_offset(uint64_t(j), rn, rshape, rxs))) - mean;
            ss += v * v;
        }
    }
    float r = inversesqrt(group_sum(ss) / float(m) + p.eps);
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            if (j < m) {
                int64_t o = one ? j * ros[0] : strided_offset(uint64_t(j), rn, rshape, ros);
                store_f(p.dst, ODT, ob + o, (vals[k] - mean) * r);
            }
        }
    } else {
        for (int64_t j = lid; j < m; j += wg) {
            float v = load_f(p.x, XDT, xb + (one ? j * rxs[0] : strided_offset(uint64_t(j), rn, rshape, rxs)));
            int64_t o = one ? j * ros[0] : strided_offset(uint64_t(j), rn, rshape, ros);
            store_f(p.dst, ODT, ob + o, (v - mean) * r);
        }
    }
}
