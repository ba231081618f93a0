#version 450
// attention.comp -- softmax(q k^T * scale + mask) v, flash-attention style
// (core/vk_kernels_nn.c). One workgroup per (batch, tile of WG queries), one
// invocation per query. Keys go in tiles of BK: the workgroup stages the
// tile of k (in chunks of DC features) and of v (DC output features) in
// shared memory; each invocation keeps its scores for the tile, a running
// maximum m, a running sum l and DC f32 accumulators (online softmax: the
// accumulators are rescaled by exp(m_old - m_new)). Output features are
// done DC at a time (scores recomputed per chunk when Dv > DC); q stays in
// registers when D <= DC; with causal masking, key tiles past the tile's
// last query are skipped. Masks:
// causal keeps key j for query i when j <= i + Lk - Lq; a bool mask keeps
// where true; a float mask is added. A query with no kept key writes zeros.
#include "common.glsl"

#define BK 16
#define DC 64

layout(constant_id = 1) const int QDT = DT_FLOAT32;
layout(constant_id = 2) const int MDT = DT_FLOAT32;
layout(constant_id = 3) const int ODT = DT_FLOAT32;

// Mirrors att_params in core/vk_kernels_nn.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t q, k, v, mask, dst;
    int64_t bshape[MAX_DIMS], qbs[MAX_DIMS], kbs[MAX_DIMS], vbs[MAX_DIMS], mbs[MAX_DIMS];
    int64_t qrs, qcs, krs, kcs, vrs, vcs, mrs, mcs;
    int64_t nbatch, lq, lk, d, dv;
    float scale;
    int nb, has_mask, mask_bool, causal, pad;
};

shared float Ks[BK * DC];
shared float Vs[BK * DC];

#define NEG_INF uintBitsToFloat(0xff800000u)

void main()
{
    Params p = Params(pc.params);
    int64_t wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    int64_t lq = p.lq, lk = p.lk, d = p.d, dv = p.dv;
    int64_t nqb = (lq + wg - 1l) / wg;
    int64_t tile = int64_t(gl_WorkGroupID.x) + int64_t(gl_WorkGroupID.y) * int64_t(gl_NumWorkGroups.x);
    if (tile >= p.nbatch * nqb) return;        // uniform over the workgroup
    int64_t b = tile / nqb, i = (tile % nqb) * wg + lid;
    bool live = i < lq;
    int64_t ii = live ? i : lq - 1l;
    int64_t bshape[MAX_DIMS], st[MAX_DIMS];
    for (int t = 0; t < MAX_DIMS; t++) { bshape[t] = p.bshape[t]; st[t] = p.qbs[t]; }
    int64_t qo = strided_offset(uint64_t(b), p.nb, bshape, st) + ii * p.qrs;
    for (int t = 0; t < MAX_DIMS; t++) st[t] = p.kbs[t];
    int64_t ko = strided_offset(uint64_t(b), p.nb, bshape, st);
    for (int t = 0; t < MAX_DIMS; t++) st[t] = p.vbs[t];
    int64_t vo = strided_offset(uint64_t(b), p.nb, bshape, st);
    int64_t mo = 0l;
    if (p.has_mask != 0) {
        for (int t = 0; t < MAX_DIMS; t++) st[t] = p.mbs[t];
        mo = strided_offset(uint64_t(b), p.nb, bshape, st) + ii * p.mrs;
    }
    float scale = p.scale;
    int64_t last = ii + lk - lq;               // causal: last kept key

    // causal: keys past the tile's last query's limit are masked for all
    int64_t klim = lk;
    if (p.causal != 0) {
        int64_t lastq = min((tile % nqb) * wg + wg, lq) - 1l;
        klim = clamp(lastq + lk - lq + 1l, 0l, lk);
    }
    // q in registers when it fits in one chunk
    bool qreg = d <= DC;
    float qv[DC];
    for (int e = 0; e < DC; e++) qv[e] = qreg && e < d ? load_f(p.q, QDT, qo + e * p.qcs) : 0.0;

    for (int64_t c0 = 0l; c0 < dv; c0 += DC) {
        float m = NEG_INF, l = 0.0;
        float acc[DC];
        for (int e = 0; e < DC; e++) acc[e] = 0.0;
        for (int64_t j0 = 0l; j0 < klim; j0 += BK) {
            float s[BK];
            for (int jj = 0; jj < BK; jj++) s[jj] = 0.0;
            for (int64_t d0 = 0l; d0 < d; d0 += DC) {
                barrier();
                for (int64_t t = lid; t < BK * DC; t += wg) {
                    int64_t jj = t / DC, e = t % DC;
                    Ks[uint(t)] = (j0 + jj < lk && d0 + e < d)
                                      ? load_f(p.k, QDT, ko + (j0 + jj) * p.krs + (d0 + e) * p.kcs)
                                      : 0.0;
                }
                barrier();
                for (int e = 0; e < DC; e++) {
                    float qe = qreg ? qv[e]
                                    : (d0 + e < d ? load_f(p.q, QDT, qo + (d0 + e) * p.qcs) : 0.0);
                    for (int jj = 0; jj < BK; jj++) s[jj] += qe * Ks[jj * DC + e];
                }
            }
            float tmax = NEG_INF;
            for (int jj = 0; jj < BK; jj++) {
                int64_t j = j0 + jj;
                bool keep = j < lk && (p.causal == 0 || j <= last);
                float add = 0.0;
                if (keep && p.has_mask != 0) {
                    float mv = load_f(p.mask, MDT, mo + j * p.mcs);
                    if (p.mask_bool != 0) keep = mv != 0.0;
                    else add = mv;
                }
                s[jj] = keep ? s[jj] * scale + add : NEG_INF;
                tmax = max(tmax, s[jj]);
            }
            barrier();
            for (int64_t t = lid; t < BK * DC; t += wg) {
                int64_t jj = t / DC, e = t % DC;
                Vs[uint(t)] = (j0 + jj < lk && c0 + e < dv)
                                  ? load_f(p.v, QDT, vo + (j0 + jj) * p.vrs + (c0 + e) * p.vcs)
                                  : 0.0;
            }
            barrier();
            float mnew = max(m, tmax);
            if (mnew > NEG_INF) {
                float corr = exp(m - mnew);
                l *= corr;
                for (int e = 0; e < DC; e++) acc[e] *= corr;
                for (int jj = 0; jj < BK; jj++) {
                    float pj = exp(s[jj] - mnew);
                    l += pj;
                    for (int e = 0; e < DC; e++) acc[e] += pj * Vs[jj * DC + e];
                }
                m = mnew;
            }
        }
        if (live) {
            int64_t ob = (b * lq + i) * dv;
            float inv = l > 0.0 ? 1.0 / l : 0.0;
            for (int e = 0; e < DC; e++)
                if (c0 + e < dv) store_f(p.dst, ODT, ob + c0 + e, acc[e] * inv);
        }
    }
}
