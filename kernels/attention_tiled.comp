#version 450
// attention_tiled.comp -- softmax(q k^T * scale + mask) v as a register-blocked
// flash kernel (core/vk_kernels_nn.c picks it, and its tile sizes, when the
// tiles fit the device's shared memory; otherwise kernels/attention.comp).
//
// One workgroup per (batch, block of BM queries); NT = (BM/TM) * (BN/TN)
// invocations, each owning a TM x TN micro-tile of the scores S and the same
// TM rows x DVP/TX columns of the output O (rows and columns in groups of 4
// spaced TY resp. TX groups apart, as in matmul.comp).
//   - the query block stays in shared memory (Qs[d][i], d-major) for the
//     whole run; for each tile of BN keys, K (Ks[d][j]) and V (Vs[j][c]) are
//     staged in shared memory, S = Q K^T is accumulated in registers with
//     128-bit shared reads, scores are scaled and masked, row maxima are
//     combined through shared memory (the TX invocations of a row), the
//     running output and sums are rescaled (online softmax), P = exp(S - m)
//     goes to shared memory over the K tile (Ps[j][i], i-groups swizzled so
//     that the stores are conflict free) and O += P V in registers;
//   - each invocation keeps its partial row sums l over its own columns;
//     they are combined once at the end;
//   - causal: key tiles past the block's last kept key are never visited;
//     per-score masking (tile coordinates) only runs on tiles that need it;
//   - staging: with VEC (float32, unit last stride, aligned) q, k and v are
//     read in vec4s; SWZ 0 spreads a warp's vec4 reads over rows (conflict
//     free scalar shared stores), SWZ 1 reads along d (coalesced) and swizzles
//     the rows of Qs/Ks (measured slower on an H200; kept for tuning).
// Masks: causal keeps key j for query i when j <= i + Lk - Lq; a bool mask
// keeps where true; a float mask is added. A query with no kept key writes
// zeros. All arithmetic in float32; q, k, v of dtype QDT, out of ODT.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const int QDT = DT_FLOAT32;
layout(constant_id = 2) const int MDT = DT_FLOAT32;
layout(constant_id = 3) const int ODT = DT_FLOAT32;
layout(constant_id = 4) const int BM = 64;    // queries per workgroup
layout(constant_id = 5) const int BN = 64;    // keys per tile
layout(constant_id = 6) const int TM = 8;     // rows per invocation (multiple of 4)
layout(constant_id = 7) const int TN = 8;     // score columns per invocation (multiple of 4)
layout(constant_id = 8) const int DP = 64;    // head dim rounded up to 4
layout(constant_id = 9) const int DVP = 64;   // value dim rounded up to 4 * TX
layout(constant_id = 10) const int KA = 4096; // floats of the K / P / reduction area
layout(constant_id = 11) const int VEC = 0;   // 1: float32 q, k, v read in vec4s (host checks)
layout(constant_id = 12) const int SWZ = 0;   // 1: Q/K rows swizzled, vec4 reads along d (slower on an H200)

// Mirrors att_params in core/vk_kernels_nn.c (the same block as attention.comp).
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t q, k, v, mask, dst;
    int64_t bshape[MAX_DIMS], qbs[MAX_DIMS], kbs[MAX_DIMS], vbs[MAX_DIMS], mbs[MAX_DIMS];
    int64_t qrs, qcs, krs, kcs, vrs, vcs, mrs, mcs;
    int64_t nbatch, lq, lk, d, dv;
    float scale;
    int nb, has_mask, mask_bool, causal, pad;
};

const int NT = (BM / TM) * (BN / TN);
const int TX = BN / TN;           // invocations along a row of S
const int TY = BM / TM;
const int GM = TM / 4, GN = TN / 4;
const int GO = DVP / (4 * TX);    // 4-column groups of O per invocation
const int BM4 = BM / 4, BN4 = BN / 4, DVP4 = DVP / 4, DP4 = DP / 4;

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufV4 { vec4 v[]; };

shared vec4 Qs[DP * BM4];
shared vec4 Ks[KA / 4];           // K tile, then the row reductions, then P
shared vec4 Vs[BN * DVP4];

#define NEG_INF uintBitsToFloat(0xff800000u)

void set_ks(int idx, float v) { Ks[idx >> 2][idx & 3] = v; }
// Q and K tiles are d-major; the 4-column groups of row d are swizzled with
// bits 2..4 of d so that stores of 4 consecutive d (vec4 loads) spread over
// the banks (reads of one row stay conflict free). BM, BN >= 32.
// Without SWZ, plain layout and vec4 reads spread over rows (lanes along i/j).
int qsw(int d, int i4) { return d * BM4 + (SWZ == 1 ? i4 ^ ((d >> 2) & 7) : i4); }
int ksw(int d, int j4) { return d * BN4 + (SWZ == 1 ? j4 ^ ((d >> 2) & 7) : j4); }
float get_ks(int idx) { return Ks[idx >> 2][idx & 3]; }

void main()
{
    Params p = Params(pc.params);
    int tid = int(gl_LocalInvocationID.x);
    int tx = tid % TX, ty = tid / TX;
    int64_t lq = p.lq, lk = p.lk, dd = p.d, dv = p.dv;
    int64_t nqb = (lq + BM - 1) / BM;
    int64_t tile = int64_t(gl_WorkGroupID.x) + int64_t(gl_WorkGroupID.y) * int64_t(gl_NumWorkGroups.x);
    if (tile >= p.nbatch * nqb) return;        // uniform over the workgroup
    int64_t b = tile / nqb, qb = tile % nqb;
    if (p.causal != 0) qb = nqb - 1 - qb;      // longest blocks first
    int64_t i0 = qb * BM;

    int64_t bshape[MAX_DIMS], st[MAX_DIMS];
    for (int t = 0; t < MAX_DIMS; t++) { bshape[t] = p.bshape[t]; st[t] = p.qbs[t]; }
    int64_t qo = strided_offset(uint64_t(b), p.nb, bshape, st);
    for (int t = 0; t < MAX_DIMS; t++) st[t] = p.kbs[t];
    int64_t ko = strided_offset(uint64_t(b), p.nb, bshape, st);
    for (int t = 0; t < MAX_DIMS; t++) st[t] = p.vbs[t];
    int64_t vo = strided_offset(uint64_t(b), p.nb, bshape, st);
    int64_t mo = 0l;
    if (p.has_mask != 0) {
        for (int t = 0; t < MAX_DIMS; t++) st[t] = p.mbs[t];
        mo = strided_offset(uint64_t(b), p.nb, bshape, st);
    }
    float scale = p.scale;
    const bool causal = p.causal != 0, has_mask = p.has_mask != 0, mask_bool = p.mask_bool != 0;
    const uint64_t ka = p.k, va = p.v, ma = p.mask;
    const int64_t krs = p.krs, kcs = p.kcs, vrs = p.vrs, vcs = p.vcs, mrs = p.mrs, mcs = p.mcs;

    // the query block, d-major, zeros outside
    if (VEC == 1) {
        for (int l = tid; l < DP4 * BM; l += NT) {
            int i = SWZ == 1 ? l / DP4 : l % BM, d4 = SWZ == 1 ? l % DP4 : l / BM;
            int64_t gi = i0 + i;
            vec4 x = gi < lq ? BufV4(p.q + uint64_t((qo + gi * p.qrs + d4 * 4) * 4l)).v[0] : vec4(0.0);
            [[unroll]] for (int e = 0; e < 4; e++) Qs[qsw(d4 * 4 + e, i / 4)][i % 4] = x[e];
        }
    } else {
        for (int l = tid; l < DP * BM; l += NT) {
            int i = l % BM, d = l / BM;
            int64_t gi = i0 + i;
            float x = gi < lq && d < dd ? load_f(p.q, QDT, qo + gi * p.qrs + int64_t(d) * p.qcs) : 0.0;
            Qs[qsw(d, i / 4)][i % 4] = x;
        }
    }

    // last key any query of the block keeps
    int64_t klim = lk;
    if (causal) klim = clamp(min(i0 + BM, lq) - 1l + lk - lq + 1l, 0l, lk);

    vec4 o[TM * GO];
    float m[TM], l[TM];
    [[unroll]] for (int t = 0; t < TM * GO; t++) o[t] = vec4(0.0);
    [[unroll]] for (int r = 0; r < TM; r++) { m[r] = NEG_INF; l[r] = 0.0; }

    for (int64_t j0 = 0l; j0 < klim; j0 += BN) {
        // stage K (d-major) and V (key-major), zeros outside
        if (VEC == 1) {
            for (int t = tid; t < DP4 * BN; t += NT) {
                int j = SWZ == 1 ? t / DP4 : t % BN, d4 = SWZ == 1 ? t % DP4 : t / BN;
                int64_t gj = j0 + j;
                vec4 x = gj < lk ? BufV4(ka + uint64_t((ko + gj * krs + d4 * 4) * 4l)).v[0] : vec4(0.0);
                [[unroll]] for (int e = 0; e < 4; e++) Ks[ksw(d4 * 4 + e, j / 4)][j % 4] = x[e];
            }
            for (int t = tid; t < BN * DVP4; t += NT) {
                int c4 = t % DVP4, j = t / DVP4;
                int64_t gj = j0 + j;
                Vs[t] = gj < lk && c4 * 4 < dv ? BufV4(va + uint64_t((vo + gj * vrs + c4 * 4) * 4l)).v[0]
                                              : vec4(0.0);
            }
        } else {
            for (int t = tid; t < DP * BN; t += NT) {
                int j = t % BN, d = t / BN;
                int64_t gj = j0 + j;
                Ks[ksw(d, j / 4)][j % 4] = gj < lk && d < dd ? load_f(ka, QDT, ko + gj * krs + int64_t(d) * kcs) : 0.0;
            }
            for (int t = tid; t < BN * DVP; t += NT) {
                int c = t % DVP, j = t / DVP;
                int64_t gj = j0 + j;
                Vs[t >> 2][t & 3] = gj < lk && c < dv ? load_f(va, QDT, vo + gj * vrs + int64_t(c) * vcs) : 0.0;
            }
        }
        barrier();

        // S = Q K^T
        vec4 s[TM * GN];
        [[unroll]] for (int t = 0; t < TM * GN; t++) s[t] = vec4(0.0);
        [[unroll]] for (int d = 0; d < DP; d++) {
            vec4 av[GM], bv[GN];
            [[unroll]] for (int g = 0; g < GM; g++) av[g] = Qs[qsw(d, g * TY + ty)];
            [[unroll]] for (int h = 0; h < GN; h++) bv[h] = Ks[ksw(d, h * TX + tx)];
            [[unroll]] for (int g = 0; g < GM; g++)
                [[unroll]] for (int r = 0; r < 4; r++)
                    [[unroll]] for (int h = 0; h < GN; h++) s[(g * 4 + r) * GN + h] += av[g][r] * bv[h];
        }

        // scale, mask, row maxima of this invocation's columns
        // in tile coordinates: key jl kept for row il when jl < kn and (causal)
        // jl <= il + off
        int kn = int(min(lk - j0, int64_t(BN)));
        int off = causal ? int(clamp(i0 + lk - lq - j0, int64_t(-(BM + BN)), int64_t(BN))) : BN;
        bool edge = kn < BN || has_mask || off < BN - 1;
        float mt[TM];
        [[unroll]] for (int g = 0; g < GM; g++) {
            [[unroll]] for (int r = 0; r < 4; r++) {
                int ri = g * 4 + r, il = (g * TY + ty) * 4 + r;
                float mx = NEG_INF;
                [[unroll]] for (int h = 0; h < GN; h++) {
                    vec4 sv = s[ri * GN + h] * scale;
                    if (edge) {
                        [[unroll]] for (int e = 0; e < 4; e++) {
                            int jl = (h * TX + tx) * 4 + e;
                            bool keep = jl < kn && jl <= il + off;
                            if (keep && has_mask) {
                                int64_t gic = min(i0 + il, lq - 1l);
                                float mv = load_f(ma, MDT, mo + gic * mrs + (j0 + jl) * mcs);
                                if (mask_bool) keep = mv != 0.0;
                                else sv[e] += mv;
                            }
                            if (!keep) sv[e] = NEG_INF;
                        }
                    }
                    s[ri * GN + h] = sv;
                    mx = max(mx, max(max(sv.x, sv.y), max(sv.z, sv.w)));
                }
                mt[ri] = mx;
            }
        }
        barrier();                               // K no longer read
        [[unroll]] for (int g = 0; g < GM; g++)
            [[unroll]] for (int r = 0; r < 4; r++)
                set_ks(((g * TY + ty) * 4 + r) * TX + tx, mt[g * 4 + r]);
        barrier();
        [[unroll]] for (int g = 0; g < GM; g++) {
            [[unroll]] for (int r = 0; r < 4; r++) {
                int ri = g * 4 + r, row = (g * TY + ty) * 4 + r;
                float mx = m[ri];
                for (int t = 0; t < TX; t++) mx = max(mx, get_ks(row * TX + t));
                mt[ri] = mx;
            }
        }
        barrier();                               // reductions read before P overwrites them

        // online softmax: rescale, P = exp(S - m) into shared memory
        [[unroll]] for (int ri = 0; ri < TM; ri++) {
            float mnew = mt[ri];
            float corr = mnew == NEG_INF ? 1.0 : exp(m[ri] - mnew);
            m[ri] = mnew;
            l[ri] *= corr;
            [[unroll]] for (int h = 0; h < GO; h++) o[ri * GO + h] *= corr;
            float ls = 0.0;
            [[unroll]] for (int h = 0; h < GN; h++) {
                vec4 pv = mnew == NEG_INF ? vec4(0.0) : exp(s[ri * GN + h] - mnew);
                s[ri * GN + h] = pv;
                ls += (pv.x + pv.y) + (pv.z + pv.w);
            }
            l[ri] += ls;
        }
        [[unroll]] for (int h = 0; h < GN; h++) {
            [[unroll]] for (int e = 0; e < 4; e++) {
                int j = (h * TX + tx) * 4 + e;
                int sw = (j >> 2) & 7;
                [[unroll]] for (int g = 0; g < GM; g++) {
                    vec4 pc = vec4(s[(g * 4 + 0) * GN + h][e], s[(g * 4 + 1) * GN + h][e],
                                   s[(g * 4 + 2) * GN + h][e], s[(g * 4 + 3) * GN + h][e]);
                    Ks[j * BM4 + ((g * TY + ty) ^ sw)] = pc;
                }
            }
        }
        barrier();

        // O += P V
        [[unroll]] for (int j = 0; j < BN; j++) {
            int sw = (j >> 2) & 7;
            vec4 pv[GM], vv[GO];
            [[unroll]] for (int g = 0; g < GM; g++) pv[g] = Ks[j * BM4 + ((g * TY + ty) ^ sw)];
            [[unroll]] for (int h = 0; h < GO; h++) vv[h] = Vs[j * DVP4 + h * TX + tx];
            [[unroll]] for (int g = 0; g < GM; g++)
                [[unroll]] for (int r = 0; r < 4; r++)
                    [[unroll]] for (int h = 0; h < GO; h++) o[(g * 4 + r) * GO + h] += pv[g][r] * vv[h];
        }
        barrier();                               // before the next tiles are staged
    }

    // row sums over the TX invocations of a row
    [[unroll]] for (int g = 0; g < GM; g++)
        [[unroll]] for (int r = 0; r < 4; r++)
            set_ks(((g * TY + ty) * 4 + r) * TX + tx, l[g * 4 + r]);
    barrier();
    int64_t obase = b * lq * dv;
    [[unroll]] for (int g = 0; g < GM; g++) {
        [[unroll]] for (int r = 0; r < 4; r++) {
            int row = (g * TY + ty) * 4 + r;
            float ls = 0.0;
            for (int t = 0; t < TX; t++) ls += get_ks(row * TX + t);
            int64_t gi = i0 + row;
            if (gi >= lq) continue;
            float inv = ls > 0.0 ? 1.0 / ls : 0.0;
            [[unroll]] for (int h = 0; h < GO; h++) {
                vec4 ov = o[(g * 4 + r) * GO + h] * inv;
                int c = (h * TX + tx) * 4;
                [[unroll]] for (int e = 0; e < 4; e++)
                    if (c + e < dv) store_f(p.dst, ODT, obase + gi * dv + c + e, ov[e]);
            }
        }
    }
}
