#version 450
// conv.comp -- N-d convolution (1 to 3 spatial axes, handled as 3 with
// leading axes of size 1) as an implicit GEMM, per group g (grid z):
//   out[n, g*Og + row, p] = sum_r W[g*Og + row, r] * X[r, (n, p)]
// with r = (c, tap) over C/groups x kernel taps and X read on the fly from
// the input (stride, padding lo, dilation, input dilation, flip), zeros
// outside. A workgroup computes a BM x BN block of (rows x columns), walking
// r in steps of BK through shared-memory tiles; the BK taps of a step are
// decoded once into shared memory (channel, per-axis tap offsets, weight
// offset), so loads need no division. Each invocation owns a TM x TN
// register tile in groups of 4 rows / 4 columns, 4*TY rows and 4*TX columns
// apart, read from shared memory as vec4s (conflict-free). float32
// accumulation; float16/bfloat16 through the load/store helpers of
// common.glsl. The host (core/vk_kernels_conv.c)
// picks the tile from the device limits; it guarantees NT % BN == 0 and
// NT % BK == 0 (so each invocation's B column and A k-offset are fixed), and
// that every index fits 32 bits except the final element offsets.
// Split-K (few output tiles, long reductions: weight gradients): grid z is
// groups x nsplit; split s sums r in [s*kchunk, (s+1)*kchunk) into float32
// partials, which conv_splitk.comp adds up in split order.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const int BM = 64;
layout(constant_id = 2) const int BN = 64;
layout(constant_id = 3) const int BK = 16;
layout(constant_id = 4) const int TM = 4;
layout(constant_id = 5) const int TN = 4;
layout(constant_id = 6) const int DT = DT_FLOAT32;

// Mirrors vk_conv_params in core/vk_kernels_conv.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, w, dst;
    uint64_t partial;           // split-K: float32 partial sums [split][out element]
    int64_t xs[5];              // x strides: n, c, spatial 0..2
    int64_t ws[5];              // w strides: o, c, tap 0..2
    int N, C, O, Cg, Og, P, K, CgK;
    int ncols, col_tile0, flip, G_;
    int in_[3], k[3], out_[3], s[3], d[3], id[3], lo[3], kchunk;
    int nsplit, pad3_;          // split-K: splits of the r range (kchunk each)
};

const int NT = (BM / TM) * (BN / TN);
const int TX = BN / TN;                 // invocations along the columns
const int TY = BM / TM;                 // (TM, TN multiples of 4)
const int LA = BM * BK / NT;            // A elements per invocation
const int LB = BN * BK / NT;

shared vec4 As[BK][BM / 4];             // k-major, 4 rows per vec4
shared vec4 Bs[BK][BN / 4];
// the taps of the current step, decoded once (Tc < 0: past the range)
shared int Tc[BK];
shared ivec3 Tu[BK];                    // tap offsets (flipped, dilated) per axis
shared int64_t Tw[BK];                  // weight element offset of the tap

void main()
{
    Params p = Params(pc.params);
    int tid = int(gl_LocalInvocationID.x);
    int tx = tid % TX, ty = tid / TX;
    int g = int(gl_WorkGroupID.z) % p.G_;
    int split = int(gl_WorkGroupID.z) / p.G_;
    int rbeg = split * p.kchunk, rend = min(p.CgK, rbeg + p.kchunk);
    int row0 = int(gl_WorkGroupID.y) * BM;
    int col0 = (p.col_tile0 + int(gl_WorkGroupID.x)) * BN;

    // this invocation's B column (fixed) and its position
    int bj = tid % BN;
    int bcol = col0 + bj;
    bool bvalid = bcol < p.ncols;
    int bn = bvalid ? bcol / p.P : 0;
    int bp = bvalid ? bcol % p.P : 0;
    int o2 = bp % p.out_[2];
    int o1 = (bp / p.out_[2]) % p.out_[1];
    int o0 = bp / (p.out_[2] * p.out_[1]);
    int base0 = o0 * p.s[0] - p.lo[0], base1 = o1 * p.s[1] - p.lo[1],
        base2 = o2 * p.s[2] - p.lo[2];
    int64_t xbase = int64_t(bn) * p.xs[0] + int64_t(g * p.Cg) * p.xs[1];
    int bk0 = tid / BN;                 // first k row this invocation loads in B
    // this invocation's A k-offset (fixed) and first row
    int akk = tid % BK;
    int ar0 = tid / BK;
    int64_t wbase = int64_t(g * p.Og) * p.ws[0];
    int k12 = p.k[1] * p.k[2];

    vec4 acc[TM][TN / 4];               // acc[row r][column group h]
    [[unroll]] for (int i = 0; i < TM; i++)
        [[unroll]] for (int j = 0; j < TN / 4; j++) acc[i][j] = vec4(0.0);

    for (int r0 = rbeg; r0 < rend; r0 += BK) {
        // decode the BK taps of this step once: channel, tap offsets, weight offset
        if (tid < BK) {
            int r = r0 + tid;
            if (r < rend) {
                int c = r / p.K, t = r % p.K;
                int t0 = t / k12, t1 = (t / p.k[2]) % p.k[1], t2 = t % p.k[2];
                Tw[tid] = int64_t(c) * p.ws[1] + int64_t(t0) * p.ws[2] +
                          int64_t(t1) * p.ws[3] + int64_t(t2) * p.ws[4];
                if (p.flip != 0) {
                    t0 = p.k[0] - 1 - t0;
                    t1 = p.k[1] - 1 - t1;
                    t2 = p.k[2] - 1 - t2;
                }
                Tc[tid] = c;
                Tu[tid] = ivec3(t0 * p.d[0], t1 * p.d[1], t2 * p.d[2]);
            } else {
                Tc[tid] = -1;
            }
        }
        barrier();
        // A tile: W[g*Og + row, r] (row-major over taps)
        {
            bool aok = Tc[akk] >= 0;
            int64_t woff = Tw[akk];
            [[unroll]] for (int q = 0; q < LA; q++) {
                int row = ar0 + q * (NT / BK);
                float v = 0.0;
                if (aok && row0 + row < p.Og)
                    v = load_f(p.w, DT, wbase + int64_t(row0 + row) * p.ws[0] + woff);
                As[akk][row >> 2][row & 3] = v;
            }
        }
        // B tile: the input element of tap r for column (n, p)
        [[unroll]] for (int q = 0; q < LB; q++) {
            int kk = bk0 + q * (NT / BN);
            int c = Tc[kk];
            float v = 0.0;
            if (bvalid && c >= 0) {
                ivec3 u = ivec3(base0, base1, base2) + Tu[kk];
                bool ok = u.x >= 0 && u.y >= 0 && u.z >= 0;
                if (p.id[0] != 1 || p.id[1] != 1 || p.id[2] != 1) {
                    ok = ok && u.x % p.id[0] == 0 && u.y % p.id[1] == 0 && u.z % p.id[2] == 0;
                    u = ivec3(u.x / p.id[0], u.y / p.id[1], u.z / p.id[2]);
                }
                ok = ok && u.x < p.in_[0] && u.y < p.in_[1] && u.z < p.in_[2];
                if (ok)
                    v = load_f(p.x, DT, xbase + int64_t(c) * p.xs[1] + int64_t(u.x) * p.xs[2] +
                                            int64_t(u.y) * p.xs[3] + int64_t(u.z) * p.xs[4]);
            }
            Bs[kk][bj >> 2][bj & 3] = v;
        }
        barrier();
        [[unroll]] for (int kk = 0; kk < BK; kk++) {
            vec4 a[TM / 4], b[TN / 4];
            [[unroll]] for (int i = 0; i < TM / 4; i++) a[i] = As[kk][i * TY + ty];
            [[unroll]] for (int j = 0; j < TN / 4; j++) b[j] = Bs[kk][j * TX + tx];
            [[unroll]] for (int i = 0; i < TM / 4; i++)
                [[unroll]] for (int r = 0; r < 4; r++)
                    [[unroll]] for (int j = 0; j < TN / 4; j++)
                        acc[i * 4 + r][j] += a[i][r] * b[j];
        }
        barrier();
    }

    [[unroll]] for (int j = 0; j < TN / 4; j++) {
        [[unroll]] for (int e = 0; e < 4; e++) {
            int col = col0 + (j * TX + tx) * 4 + e;
            if (col >= p.ncols) continue;
            int n = col / p.P, pp = col % p.P;
            [[unroll]] for (int i = 0; i < TM / 4; i++) {
                [[unroll]] for (int r = 0; r < 4; r++) {
                    int row = row0 + (i * TY + ty) * 4 + r;
                    if (row >= p.Og) continue;
                    int64_t o = (int64_t(n) * p.O + int64_t(g * p.Og + row)) * p.P + pp;
                    float v = acc[i * 4 + r][j][e];
                    if (p.nsplit > 1)
                        BufF32(p.partial + uint64_t((int64_t(split) * p.N * p.O * p.P + o) * 4l))
                            .v[0] = v;
                    else
                        store_f(p.dst, DT, o, v);
                }
            }
        }
    }
}
