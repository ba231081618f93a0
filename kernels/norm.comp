#version 450
// norm.comp -- normalize: (x - mean) / sqrt(var + eps) or x / sqrt(mean(x^2) + eps)
// over any set of axes (core/vk_kernels_nn.c). One workgroup per group of
// the kept axes: two reading passes (mean, then the sum of squared
// deviations, both combined over the workgroup with subgroup ops where
// SUBGROUP, else a shared-memory tree), then one writing pass. Elements are
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
    int64_t m = p.m, wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    int64_t xb = strided_offset(g, kn, kshape, kxs);
    int64_t ob = strided_offset(g, kn, kshape, kos);
    float mean = 0.0;
    if (p.rms == 0) {
        float s = 0.0;
        for (int64_t j = lid; j < m; j += wg)
            s += load_f(p.x, XDT, xb + strided_offset(uint64_t(j), rn, rshape, rxs));
        mean = group_sum(s) / float(m);
    }
    float ss = 0.0;
    for (int64_t j = lid; j < m; j += wg) {
        float v = load_f(p.x, XDT, xb + strided_offset(uint64_t(j), rn, rshape, rxs)) - mean;
        ss += v * v;
    }
    float r = inversesqrt(group_sum(ss) / float(m) + p.eps);
    for (int64_t j = lid; j < m; j += wg) {
        float v = load_f(p.x, XDT, xb + strided_offset(uint64_t(j), rn, rshape, rxs));
        store_f(p.dst, ODT, ob + strided_offset(uint64_t(j), rn, rshape, ros), (v - mean) * r);
    }
}
