#version 450
// attention_softmax.comp -- the middle step of attention as a composition
// (core/vk_kernels_nn.c, for head dims whose fused tiles do not fit shared
// memory): the float32 scores S = q k^T (nbatch x Lq x Lk, contiguous, at
// dst) are scaled, masked and turned into softmax probabilities in place,
// with the semantics of attention.comp (causal keeps key j for query i when
// j <= i + Lk - Lq; a bool mask keeps where true; a float mask is added; a
// row with no kept key becomes zeros). One workgroup per row, three passes
// (maximum, sum, write), workgroup reductions in shared memory.
#include "common.glsl"

layout(constant_id = 1) const int MDT = DT_FLOAT32;

// Mirrors att_params in core/vk_kernels_nn.c (dst: the scores).
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t q, k, v, mask, dst;
    int64_t bshape[MAX_DIMS], qbs[MAX_DIMS], kbs[MAX_DIMS], vbs[MAX_DIMS], mbs[MAX_DIMS];
    int64_t qrs, qcs, krs, kcs, vrs, vcs, mrs, mcs;
    int64_t nbatch, lq, lk, d, dv;
    float scale;
    int nb, has_mask, mask_bool, causal, pad;
};

shared float red[gl_WorkGroupSize.x];

#define NEG_INF uintBitsToFloat(0xff800000u)

float wg_reduce(float v, bool is_max)
{
    uint lid = gl_LocalInvocationID.x;
    barrier();
    red[lid] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (lid < s) red[lid] = is_max ? max(red[lid], red[lid + s]) : red[lid] + red[lid + s];
        barrier();
    }
    return red[0];
}

void main()
{
    Params p = Params(pc.params);
    int64_t row = int64_t(gl_WorkGroupID.x) + int64_t(gl_WorkGroupID.y) * int64_t(gl_NumWorkGroups.x);
    if (row >= p.nbatch * p.lq) return;        // uniform over the workgroup
    int64_t lq = p.lq, lk = p.lk, b = row / lq, i = row % lq;
    int64_t mo = 0l;
    if (p.has_mask != 0) {
        int64_t bshape[MAX_DIMS], st[MAX_DIMS];
        for (int t = 0; t < MAX_DIMS; t++) { bshape[t] = p.bshape[t]; st[t] = p.mbs[t]; }
        mo = strided_offset(uint64_t(b), p.nb, bshape, st) + i * p.mrs;
    }
    int64_t lim = p.causal != 0 ? min(i + lk - lq + 1l, lk) : lk;   // keys kept: j < lim
    BufF32 s = BufF32(p.dst + uint64_t(row * lk * 4l));
    int lid = int(gl_LocalInvocationID.x), wg = int(gl_WorkGroupSize.x), n = int(lk);  // lk < 2^28 (host)
    float mx = NEG_INF;
    for (int j = lid; j < n; j += wg) {
        float x = NEG_INF;
        if (j < lim) {
            x = s.v[j] * p.scale;
            if (p.has_mask != 0) {
                float mv = load_f(p.mask, MDT, mo + int64_t(j) * p.mcs);
                if (p.mask_bool != 0) { if (mv == 0.0) x = NEG_INF; }
                else x += mv;
            }
        }
        s.v[j] = x;
        mx = max(mx, x);
    }
    mx = wg_reduce(mx, true);
    float sum = 0.0;
    if (mx > NEG_INF)
        for (int j = lid; j < n; j += wg) sum += exp(s.v[j] - mx);
    sum = wg_reduce(sum, false);
    float inv = sum > 0.0 ? 1.0 / sum : 0.0;
    for (int j = lid; j < n; j += wg) s.v[j] = mx > NEG_INF ? exp(s.v[j] - mx) * inv : 0.0;
}
