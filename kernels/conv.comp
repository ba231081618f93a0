#version 450
// conv.comp -- N-d convolution (1 to 3 spatial axes, handled as 3 with
// leading axes of size 1) as an implicit GEMM, per group g (grid z):
//   out[n, g*Og + row, p] = sum_r W[g*Og + row, r] * X[r, (n, p)]
// with r = (c, tap) over C/groups x kernel taps and X read on the fly from
// the input (stride, padding lo, dilation, flip), zeros outside.
//
// Input dilation (transposed convolutions, input gradients of strided
// convs) is handled by output phases: the host dispatches once per phase
// (p mod id per axis) and a phase only walks the taps that land on input
// elements, so no multiply-adds are spent on zeros and no division is left
// in the kernel. Per axis, with q the phase's output index and m its tap
// index (the host precomputes ub, us, the weight tap offsets wtb, wts):
//   p = q * oq + oph             (written output position)
//   u = q * s + ub + m * us      (input position read)
// Without input dilation oq = 1, oph = 0, ub = -lo, us = dilation.
// Structure (as matmul.comp): a workgroup computes a BM x BN block of
// (rows x columns), walking r in steps of BK. Each invocation owns a TM x TN
// register tile in groups of 4 rows / 4 columns (4*BM/TM rows, 4*BN/TN
// columns apart), read from
// k-major shared tiles as vec4s (conflict-free). Shared tiles are double
// buffered: the next step is loaded from global memory into registers while
// the current one is multiplied, one barrier per step. The taps of a step
// are decoded once (by BK invocations, one step ahead) into shared tables:
// input offset, per-axis input offsets (for the bounds test) and weight
// offset, so loads need no division. Out-of-range taps and columns get
// offsets that fail the (unsigned) bounds test.
// B_MODE: 0 each invocation loads one fixed column over the k rows
// (consecutive invocations: consecutive output positions; forward and input
// gradients), 1 each invocation loads one fixed k row over the columns
// (consecutive invocations: consecutive taps; weight gradients, whose taps
// run over whole images). float32 accumulation; float16/bfloat16 through
// the load/store helpers of common.glsl. The host (core/vk_kernels_conv.c)
// picks the tile from the device limits; it guarantees NT % BK == 0,
// NT % BN == 0 for B_MODE 0, and per-axis extents below 2^29.
// Split-K (few output tiles, long reductions: weight gradients): grid z is
// groups x nsplit; split s sums r in [s*kchunk, (s+1)*kchunk) into float32
// partials, which conv_splitk.comp adds up in split order.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const int BM = 128;
layout(constant_id = 2) const int BN = 128;
layout(constant_id = 3) const int BK = 16;
layout(constant_id = 4) const int TM = 16;
layout(constant_id = 5) const int TN = 8;
layout(constant_id = 6) const int DT = DT_FLOAT32;
layout(constant_id = 7) const int B_MODE = 0;
layout(constant_id = 8) const int DIMS = 3;   // spatial axes bounds-tested (the last DIMS)

// Mirrors vk_conv_params in core/vk_kernels_conv.c.
layout(buffer_reference, std430, buffer_reference_align = 8) readonly buffer Params {
    uint64_t x, w, dst;
    uint64_t partial;           // split-K: float32 partial sums [split][out element]
    int64_t xs[5];              // x strides: n, c, spatial 0..2
    int64_t ws[5];              // w strides: o, c, tap 0..2
    int64_t wtb, wts[3];        // weight offset of tap m = 0, per-axis step
    int N, C, O, Cg, Og, P, K, CgK;   // P, K: this phase's positions and taps
    int ncols, col_tile0, G_, nsplit;
    int in_[3], k[3], out_[3], s[3];
    int ub[3], us[3];           // u offset of tap m: ub + m * us
    int ofull[3], oq[3], oph[3];
    int kchunk, Pfull, pad_;
};

const int NT = (BM / TM) * (BN / TN);
const int TX = BN / TN;                 // invocations along the columns
const int TY = BM / TM;                 // (TM, TN multiples of 4)
const int GM = TM / 4, GN = TN / 4;
const int LA = BM * BK / NT;            // A elements per invocation and step
const int LB = BN * BK / NT;
const int SA = BM / 4 + 1;              // a k row of the A tile, vec4s (padded)
const int SB = BN / 4 + 1;
const int FAR = 1 << 30;                // fails every bounds test
const int ES = DT == DT_FLOAT32 ? 4 : 2;  // element size (bytes)

shared vec4 As[2 * BK * SA];
shared vec4 Bs[2 * BK * SB];
shared int64_t Tx[2 * BK];              // input byte offset of the tap (channel included)
shared ivec3 Tu[2 * BK];                // per-axis input offsets of the tap
shared int64_t Tw[2 * BK];              // weight byte offset of the tap
shared uint64_t Cx[BN];                 // B_MODE 1: input address of each column
shared ivec3 Cu[BN];                    // and its per-axis base

float ra[LA], rb[LB];

// Tap decoding (invocations tid < BK): tap r = (c, m0, m1, m2) kept as
// digits, advanced by BK per step with carries (no division in the loop).
int dc, dm0, dm1, dm2;                  // digits of this invocation's tap
int ic, im0, im1, im2;                  // BK in the same radix

void decode_taps(Params p, int buf, bool valid)
{
    int i = buf * BK + int(gl_LocalInvocationID.x);
    if (valid) {
        Tw[i] = (int64_t(dc) * p.ws[1] + p.wtb + int64_t(dm0) * p.wts[0] +
                 int64_t(dm1) * p.wts[1] + int64_t(dm2) * p.wts[2]) * ES;
        ivec3 u = ivec3(p.ub[0] + dm0 * p.us[0], p.ub[1] + dm1 * p.us[1],
                        p.ub[2] + dm2 * p.us[2]);
        Tu[i] = u;
        Tx[i] = (int64_t(dc) * p.xs[1] + int64_t(u.x) * p.xs[2] + int64_t(u.y) * p.xs[3] +
                 int64_t(u.z) * p.xs[4]) * ES;
    } else {
        Tu[i] = ivec3(FAR);
        Tx[i] = 0;
        Tw[i] = 0;
    }
    dm2 += im2;
    if (dm2 >= p.k[2]) { dm2 -= p.k[2]; dm1++; }
    dm1 += im1;
    if (dm1 >= p.k[1]) { dm1 -= p.k[1]; dm0++; }
    dm0 += im0;
    if (dm0 >= p.k[0]) { dm0 -= p.k[0]; dc++; }
    dc += ic;
}

// Splits r (< Cg * K) into digits.
void digits(Params p, int r, out int c, out int m0, out int m1, out int m2)
{
    c = r / p.K;
    int t = r % p.K;
    m0 = t / (p.k[1] * p.k[2]);
    m1 = (t / p.k[2]) % p.k[1];
    m2 = t % p.k[2];
}

// Column col of this group: per-axis base (q * s) and input address, or FAR.
void decode_col(Params p, int g, int col, out ivec3 cu, out uint64_t cx)
{
    if (col < p.ncols) {
        int n = col / p.P, pq = col % p.P;
        int q2 = pq % p.out_[2], q1 = (pq / p.out_[2]) % p.out_[1],
            q0 = pq / (p.out_[2] * p.out_[1]);
        cu = ivec3(q0 * p.s[0], q1 * p.s[1], q2 * p.s[2]);
        cx = p.x + uint64_t((int64_t(n) * p.xs[0] + int64_t(g * p.Cg) * p.xs[1] +
                             int64_t(cu.x) * p.xs[2] + int64_t(cu.y) * p.xs[3] +
                             int64_t(cu.z) * p.xs[4]) * ES);
    } else {
        cu = ivec3(FAR);
        cx = p.x;
    }
}

// Element at byte address a.
float load_at(uint64_t a)
{
    if (DT == DT_FLOAT16) return float(BufF16(a).v[0]);
    if (DT == DT_BFLOAT16) return bf16_to_float(BufU16(a).v[0]);
    return BufF32(a).v[0];
}

// Whether the input position u is inside (the last DIMS axes are tested;
// the others are 0 for every valid tap and column).
bool inside(ivec3 u, uvec3 lim)
{
    bool ok = uint(u.z) < lim.z;
    if (DIMS >= 2) ok = ok && uint(u.y) < lim.y;
    if (DIMS >= 3) ok = ok && uint(u.x) < lim.x;
    return ok;
}

void main()
{
    Params p = Params(pc.params);
    int tid = int(gl_LocalInvocationID.x);
    int tx = tid % TX, ty = tid / TX;
    int g = int(gl_WorkGroupID.z) % p.G_;
    int split = int(gl_WorkGroupID.z) / p.G_;
    int rbeg = split * p.kchunk, rend = min(p.CgK, rbeg + p.kchunk);
    int nsteps = rend > rbeg ? (rend - rbeg + BK - 1) / BK : 0;
    int row0 = int(gl_WorkGroupID.y) * BM;
    int col0 = (p.col_tile0 + int(gl_WorkGroupID.x)) * BN;

    // A: fixed k offset, rows ar0 + q * (NT / BK)
    int akk = tid % BK, ar0 = tid / BK;
    // B_MODE 0: fixed column bj, k rows bk0 + q * (NT / BN)
    // B_MODE 1: fixed k row bkk, columns bj0 + q * (NT / BK)
    int bj = tid % BN, bk0 = tid / BN;
    int bkk = tid % BK, bj0 = tid / BK;
    ivec3 cu = ivec3(0);
    uint64_t cx = 0;
    if (B_MODE == 0) {
        decode_col(p, g, col0 + bj, cu, cx);
    } else {
        for (int j = tid; j < BN; j += NT) {
            ivec3 u;
            uint64_t o;
            decode_col(p, g, col0 + j, u, o);
            Cu[j] = u;
            Cx[j] = o;
        }
    }

    vec4 acc[TM * GN];                  // acc[row r][column group h]
    [[unroll]] for (int i = 0; i < TM * GN; i++) acc[i] = vec4(0.0);

    uvec3 in_ = uvec3(p.in_[0], p.in_[1], p.in_[2]);
    // A: rows of this invocation start at wrow, NT / BK rows apart; arows of
    // them (from the first) exist
    uint64_t wrow = p.w + uint64_t((int64_t(g * p.Og + row0 + ar0) * p.ws[0]) * ES);
    int64_t wstep = int64_t(NT / BK) * p.ws[0] * ES;
    int arows = p.Og - row0 - ar0;
    if (tid < BK) {
        digits(p, rbeg + tid, dc, dm0, dm1, dm2);
        digits(p, BK, ic, im0, im1, im2);
        decode_taps(p, 0, rbeg + tid < rend);    // step 1: in iteration -1
    }
    barrier();

    for (int t = -1; t < nsteps; t++) {
        int cur = t & 1, nxt = (t + 1) & 1;
        bool more = t + 1 < nsteps;
        // load step t + 1 (taps in table nxt) into registers
        if (more) {
            bool rok = rbeg + (t + 1) * BK + akk < rend;
            uint64_t wa = wrow + uint64_t(Tw[nxt * BK + akk]);
            [[unroll]] for (int q = 0; q < LA; q++) {
                ra[q] = rok && q * (NT / BK) < arows ? load_at(wa) : 0.0;
                wa += uint64_t(wstep);
            }
            if (B_MODE == 0) {
                [[unroll]] for (int q = 0; q < LB; q++) {
                    int i = nxt * BK + bk0 + q * (NT / BN);
                    ivec3 u = cu + Tu[i];
                    rb[q] = inside(u, in_) ? load_at(cx + uint64_t(Tx[i])) : 0.0;
                }
            } else {
                ivec3 tu = Tu[nxt * BK + bkk];
                uint64_t tx0 = uint64_t(Tx[nxt * BK + bkk]);
                [[unroll]] for (int q = 0; q < LB; q++) {
                    int j = bj0 + q * (NT / BK);
                    ivec3 u = Cu[j] + tu;
                    rb[q] = inside(u, in_) ? load_at(Cx[j] + tx0) : 0.0;
                }
            }
        }
        // multiply step t
        if (t >= 0) {
            [[unroll]] for (int kk = 0; kk < BK; kk++) {
                vec4 av[GM], bv[GN];
                [[unroll]] for (int i = 0; i < GM; i++) av[i] = As[(cur * BK + kk) * SA + i * TY + ty];
                [[unroll]] for (int j = 0; j < GN; j++) bv[j] = Bs[(cur * BK + kk) * SB + j * TX + tx];
                [[unroll]] for (int i = 0; i < GM; i++)
                    [[unroll]] for (int e = 0; e < 4; e++)
                        [[unroll]] for (int j = 0; j < GN; j++)
                            acc[(i * 4 + e) * GN + j] += av[i][e] * bv[j];
            }
        }
        // store step t + 1 into the other buffer; decode the taps of step t + 2
        // into table nxt ^ 1 = cur (its last reader, the load of step t, is
        // behind the previous barrier)
        if (more) {
            [[unroll]] for (int q = 0; q < LA; q++) {
                int row = ar0 + q * (NT / BK);
                As[(nxt * BK + akk) * SA + (row >> 2)][row & 3] = ra[q];
            }
            if (B_MODE == 0) {
                [[unroll]] for (int q = 0; q < LB; q++) {
                    int kk = bk0 + q * (NT / BN);
                    Bs[(nxt * BK + kk) * SB + (bj >> 2)][bj & 3] = rb[q];
                }
            } else {
                [[unroll]] for (int q = 0; q < LB; q++) {
                    int j = bj0 + q * (NT / BK);
                    Bs[(nxt * BK + bkk) * SB + (j >> 2)][j & 3] = rb[q];
                }
            }
            if (tid < BK && t + 2 < nsteps) decode_taps(p, cur, rbeg + (t + 2) * BK + tid < rend);
        }
        barrier();
    }

    int64_t pbase = int64_t(split) * p.N * p.O * p.Pfull;
    [[unroll]] for (int j = 0; j < GN; j++) {
        [[unroll]] for (int e = 0; e < 4; e++) {
            int col = col0 + (j * TX + tx) * 4 + e;
            if (col >= p.ncols) continue;
            int n = col / p.P, pq = col % p.P;
            int q2 = pq % p.out_[2], q1 = (pq / p.out_[2]) % p.out_[1],
                q0 = pq / (p.out_[2] * p.out_[1]);
            int pf = ((q0 * p.oq[0] + p.oph[0]) * p.ofull[1] + q1 * p.oq[1] + p.oph[1]) *
                         p.ofull[2] + q2 * p.oq[2] + p.oph[2];
            int64_t ob = (int64_t(n) * p.O + int64_t(g * p.Og)) * p.Pfull + pf;
            [[unroll]] for (int i = 0; i < GM; i++) {
                [[unroll]] for (int r = 0; r < 4; r++) {
                    int row = row0 + (i * TY + ty) * 4 + r;
                    if (row >= p.Og) continue;
                    int64_t o = ob + int64_t(row) * p.Pfull;
                    float v = acc[(i * 4 + r) * GN + j][e];
                    if (p.nsplit > 1)
                        BufF32(p.partial + uint64_t((pbase + o) * 4l)).v[0] = v;
                    else
                        store_f(p.dst, DT, o, v);
                }
            }
        }
    }
}
