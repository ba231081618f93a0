#version 450
// norm_row.comp -- the fast path of normalize (core/vk_kernels_nn.c): groups
// that are rows of m <= 16 * workgroup size contiguous elements (the reduced
// axes trailing and merged into one run of stride 1 in x, dst, weight and
// bias, or 0 in weight and bias: one value per row, as for instance norm).
// One workgroup per row; each invocation holds 4 chunks of 4
// consecutive elements in registers (chunk q = k * WG + lid, so a subgroup
// reads consecutive 16-byte pieces): x is read once and the output written
// once. With VEC (float32, 16-byte aligned rows, m % 4 == 0) the chunks are
// vec4 loads and stores. Mean, then the sum of squared deviations of the
// held values (no cancellation), then (x - mean) * r * weight + bias.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

layout(constant_id = 1) const int XDT = DT_FLOAT32;
layout(constant_id = 2) const int ODT = DT_FLOAT32;
layout(constant_id = 3) const bool SUBGROUP = false;
layout(constant_id = 4) const bool VEC = false;
layout(constant_id = 5) const bool HAS_W = false;
layout(constant_id = 6) const bool HAS_B = false;
layout(constant_id = 7) const bool RMS = false;
layout(constant_id = 8) const bool W_ONE = false;   // weight constant along the row
layout(constant_id = 9) const bool B_ONE = false;   // bias constant along the row

// The parameter block (the same in norm_row.comp); mirrors norm_params in core/vk_kernels_nn.c. Arrays: x, dst, weight w and
// bias b (views broadcast to x's shape; addresses 0 when absent). k*: the
// kept dims (shape, then strides of x, dst, w, b); r*: the reduced dims.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst, w, b;
    int64_t kshape[MAX_DIMS], kxs[MAX_DIMS], kos[MAX_DIMS], kws[MAX_DIMS], kbs[MAX_DIMS];
    int64_t rshape[MAX_DIMS], rxs[MAX_DIMS], ros[MAX_DIMS], rws[MAX_DIMS], rbs[MAX_DIMS];
    int64_t ngroups, m;
    float eps;
    int kn, rn, rms, has_w, has_b;
};

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufV4 { vec4 v[]; };

shared float part[gl_WorkGroupSize.x];

float row_sum(float v)
{
    uint lid = gl_LocalInvocationID.x;
    if (SUBGROUP) {
        v = subgroupAdd(v);
        if (subgroupElect()) part[gl_SubgroupID] = v;
        barrier();
        float r = 0.0;
        for (uint i = 0u; i < gl_NumSubgroups; i++) r += part[i];
        barrier();
        return r;
    }
    part[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2u; s > 0u; s >>= 1u) {
        if (lid < s) part[lid] = part[lid] + part[lid + s];
        barrier();
    }
    float r = part[0];
    barrier();
    return r;
}

#define NCH 4                                   // chunks of 4 per invocation

void main()
{
    Params p = Params(pc.params);
    uint64_t g = uint64_t(gl_WorkGroupID.x) + uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x);
    if (g >= uint64_t(p.ngroups)) return;      // uniform over the workgroup
    // row offsets from the kept dims, read straight from the parameter
    // block (the host merged them: usually one, so no division)
    int kn = p.kn;
    int64_t xb = 0, ob = 0, wb = 0, bb = 0;
    if (kn == 1) {
        int64_t i = int64_t(g);
        xb = i * p.kxs[0];
        ob = i * p.kos[0];
        if (HAS_W) wb = i * p.kws[0];
        if (HAS_B) bb = i * p.kbs[0];
    } else if (p.ngroups <= 0xffffffffl) {
        uint rem = uint(g);                    // 32-bit division (see common.glsl)
        for (int d = kn - 1; d >= 0; d--) {
            uint s = uint(p.kshape[d]);
            int64_t i = int64_t(rem % s);
            rem /= s;
            xb += i * p.kxs[d];
            ob += i * p.kos[d];
            if (HAS_W) wb += i * p.kws[d];
            if (HAS_B) bb += i * p.kbs[d];
        }
    } else {
        uint64_t rem = g;
        for (int d = kn - 1; d >= 0; d--) {
            uint64_t s = uint64_t(p.kshape[d]);
            int64_t i = int64_t(rem % s);
            rem /= s;
            xb += i * p.kxs[d];
            ob += i * p.kos[d];
            if (HAS_W) wb += i * p.kws[d];
            if (HAS_B) bb += i * p.kbs[d];
        }
    }
    int64_t m = p.m;
    uint wg = gl_WorkGroupSize.x, lid = gl_LocalInvocationID.x;
    // VEC: byte addresses of the rows (16-byte aligned, checked by the host)
    uint64_t xa = p.x + uint64_t(xb) * 4ul, oa = p.dst + uint64_t(ob) * 4ul;
    uint64_t wa = p.w + uint64_t(wb) * 4ul, ba = p.b + uint64_t(bb) * 4ul;
    vec4 v[NCH];
    float s = 0.0;
    for (int k = 0; k < NCH; k++) {
        int64_t e = int64_t(uint(k) * wg + lid) * 4;
        v[k] = vec4(0.0);
        if (e < m) {
            if (VEC) {
                v[k] = BufV4(xa + uint64_t(e) * 4ul).v[0];
            } else {
                for (int c = 0; c < 4; c++)
                    if (e + c < m) v[k][c] = load_f(p.x, XDT, xb + e + c);
            }
        }
        s += (v[k].x + v[k].y) + (v[k].z + v[k].w);
    }
    float mean = 0.0;
    if (!RMS) mean = row_sum(s) / float(m);
    float ss = 0.0;
    for (int k = 0; k < NCH; k++) {
        int64_t e = int64_t(uint(k) * wg + lid) * 4;
        vec4 d = v[k] - mean;
        for (int c = 0; c < 4; c++)
            if (e + c < m) ss += d[c] * d[c];
    }
    float r = inversesqrt(row_sum(ss) / float(m) + p.eps);
    float w1 = 1.0, b1 = 0.0;                  // the row's weight and bias (W_ONE, B_ONE)
    if (HAS_W && W_ONE) w1 = load_f(p.w, XDT, wb);
    if (HAS_B && B_ONE) b1 = load_f(p.b, XDT, bb);
    for (int k = 0; k < NCH; k++) {
        int64_t e = int64_t(uint(k) * wg + lid) * 4;
        if (e >= m) continue;
        vec4 y = (v[k] - mean) * r;
        if (HAS_W && W_ONE) y *= w1;
        if (VEC) {
            if (HAS_W && !W_ONE) y *= BufV4(wa + uint64_t(e) * 4ul).v[0];
            if (HAS_B) y += B_ONE ? vec4(b1) : BufV4(ba + uint64_t(e) * 4ul).v[0];
            BufV4(oa + uint64_t(e) * 4ul).v[0] = y;
        } else {
            for (int c = 0; c < 4; c++) {
                if (e + c >= m) break;
                float t = y[c];
                if (HAS_W && !W_ONE) t *= load_f(p.w, XDT, wb + e + c);
                if (HAS_B) t += B_ONE ? b1 : load_f(p.b, XDT, bb + e + c);
                store_f(p.dst, ODT, ob + e + c, t);
            }
        }
    }
}
