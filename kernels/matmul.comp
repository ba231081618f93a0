#version 450
// matmul.comp -- tiled batched matmul, float accumulation:
//   out[b] (n x m) = a[b] (n x k) @ b[b] (k x m)
// for every dtype but float64 and the integers (float32, float16, bfloat16;
// integers go to matmul_int.comp). Operands have arbitrary strides for the
// last two dims (a transposed operand is read in place) and per-batch
// strides (0 for broadcast); out is contiguous.
//
// Structure (the classic shared-memory SGEMM):
//   - a workgroup computes a BM x BN block of out; it walks k in steps of
//     BK, staging an A tile (BM x BK) and a B tile (BK x BN) in shared
//     memory, both stored k-major so that the inner loop reads 4 rows/cols
//     of a micro-tile with one 128-bit shared load;
//   - each invocation owns a TM x TN micro-tile of registers, split in
//     groups of 4 rows / 4 columns spaced BM/(TM/4) and BN/(TN/4) apart, so
//     the 128-bit shared reads of a subgroup are conflict free;
//   - shared memory is double buffered: the next tiles are loaded from
//     global memory into registers while the current ones are multiplied,
//     then stored to the other buffer; one barrier per k step.
//   - A_MODE / B_MODE pick how tiles are read from global memory:
//       0 generic: scalar loads through common.glsl (any dtype, any strides)
//       1 vec4 along k (A row-major, or B transposed: x @ W.T)
//       2 vec4 along the other dim (A transposed, or B row-major)
//     Modes 1 and 2 need float32, 16-byte aligned rows and extents that are
//     multiples of 4 (bounds are then checked per vec4); the host checks.
//   - C_VEC: 1 stores out in vec4s (float32, m % 4 == 0).
// Tile sizes are specialization constants chosen on the host per device and
// shape (core/vk_kernels_matmul.c); the workgroup size (constant 0) is
// (BM / TM) * (BN / TN), and BM * BK and BN * BK must be multiples of 4 x it.
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const int BM = 128;
layout(constant_id = 2) const int BN = 128;
layout(constant_id = 3) const int BK = 8;
layout(constant_id = 4) const int TM = 8;
layout(constant_id = 5) const int TN = 8;
layout(constant_id = 6) const int DT = DT_FLOAT32;
layout(constant_id = 7) const int A_MODE = 0;
layout(constant_id = 8) const int B_MODE = 0;
layout(constant_id = 9) const int C_VEC = 0;

// Mirrors vk_matmul_params in core/vk_kernels_matmul.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t a, b, dst;         // a and b include their offsets
    int64_t n, m, k;
    int64_t sa_r, sa_c;         // a's strides: rows (n), columns (k)
    int64_t sb_r, sb_c;         // b's strides: rows (k), columns (m)
    int64_t batch0;             // first batch of this dispatch (grid z)
    int64_t row_tile0;          // first row tile of this dispatch (grid y)
    int64_t batch_shape[6];
    int64_t a_bstrides[6];
    int64_t b_bstrides[6];
    int nbatch_dims, pad_;
};

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufV4 { vec4 v[]; };

const int NT = (BM / TM) * (BN / TN);   // invocations per workgroup
const int TX = BN / TN;                 // invocations along n's columns
const int SA = BM / 4 + 1;              // A tile row (one k) in vec4s, padded
const int SB = BN / 4 + 1;
const int LA = BM * BK / (4 * NT);      // vec4s of A each invocation loads
const int LB = BN * BK / (4 * NT);
const int GM = TM / 4, GN = TN / 4;     // 4-row / 4-column groups per micro-tile

shared vec4 As[2 * BK * SA];
shared vec4 Bs[2 * BK * SB];

vec4 ra[LA], rb[LB];                    // prefetched tiles

// Loads the A tile at (row0, k0) into ra (zeros outside the matrix).
void load_a(Params p, uint64_t base, int64_t row0, int64_t k0, uint tid)
{
    [[unroll]] for (int q = 0; q < LA; q++) {
        int l = int(tid) + q * NT;
        if (A_MODE == 1) {                      // vec4 along k
            int i = l / (BK / 4), kk = (l % (BK / 4)) * 4;
            int64_t r = row0 + i, c = k0 + kk;
            ra[q] = r < p.n && c < p.k ? BufV4(base + uint64_t((r * p.sa_r + c) * 4l)).v[0]
                                       : vec4(0.0);
        } else if (A_MODE == 2) {               // vec4 along the rows
            int kk = l / (BM / 4), i = (l % (BM / 4)) * 4;
            int64_t r = row0 + i, c = k0 + kk;
            ra[q] = r < p.n && c < p.k ? BufV4(base + uint64_t((r + c * p.sa_c) * 4l)).v[0]
                                       : vec4(0.0);
        } else {                                // scalars: 4 per vec4 slot
            [[unroll]] for (int e = 0; e < 4; e++) {
                int s = l + e * LA * NT;
                int i = s % BM, kk = s / BM;
                int64_t r = row0 + i, c = k0 + kk;
                ra[q][e] = r < p.n && c < p.k ? load_f(base, DT, r * p.sa_r + c * p.sa_c)
                                              : 0.0;
            }
        }
    }
}

// Stores ra into A buffer `buf` (k-major: As[buf][k][row]).
void store_a(int buf, uint tid)
{
    [[unroll]] for (int q = 0; q < LA; q++) {
        int l = int(tid) + q * NT;
        if (A_MODE == 1) {
            int i = l / (BK / 4), kk = (l % (BK / 4)) * 4;
            [[unroll]] for (int e = 0; e < 4; e++) {
                As[(buf * BK + kk + e) * SA + i / 4][i % 4] = ra[q][e];
            }
        } else if (A_MODE == 2) {
            int kk = l / (BM / 4), i = (l % (BM / 4)) * 4;
            As[(buf * BK + kk) * SA + i / 4] = ra[q];
        } else {
            [[unroll]] for (int e = 0; e < 4; e++) {
                int s = l + e * LA * NT;
                int i = s % BM, kk = s / BM;
                As[(buf * BK + kk) * SA + i / 4][i % 4] = ra[q][e];
            }
        }
    }
}

// Loads the B tile at (k0, col0) into rb.
void load_b(Params p, uint64_t base, int64_t k0, int64_t col0, uint tid)
{
    [[unroll]] for (int q = 0; q < LB; q++) {
        int l = int(tid) + q * NT;
        if (B_MODE == 1) {                      // vec4 along k
            int j = l / (BK / 4), kk = (l % (BK / 4)) * 4;
            int64_t r = k0 + kk, c = col0 + j;
            rb[q] = r < p.k && c < p.m ? BufV4(base + uint64_t((r + c * p.sb_c) * 4l)).v[0]
                                       : vec4(0.0);
        } else if (B_MODE == 2) {               // vec4 along the columns
            int kk = l / (BN / 4), j = (l % (BN / 4)) * 4;
            int64_t r = k0 + kk, c = col0 + j;
            rb[q] = r < p.k && c < p.m ? BufV4(base + uint64_t((r * p.sb_r + c) * 4l)).v[0]
                                       : vec4(0.0);
        } else {
            [[unroll]] for (int e = 0; e < 4; e++) {
                int s = l + e * LB * NT;
                int j = s % BN, kk = s / BN;
                int64_t r = k0 + kk, c = col0 + j;
                rb[q][e] = r < p.k && c < p.m ? load_f(base, DT, r * p.sb_r + c * p.sb_c)
                                              : 0.0;
            }
        }
    }
}

// Stores rb into B buffer `buf` (Bs[buf][k][col]).
void store_b(int buf, uint tid)
{
    [[unroll]] for (int q = 0; q < LB; q++) {
        int l = int(tid) + q * NT;
        if (B_MODE == 1) {
            int j = l / (BK / 4), kk = (l % (BK / 4)) * 4;
            [[unroll]] for (int e = 0; e < 4; e++) {
                Bs[(buf * BK + kk + e) * SB + j / 4][j % 4] = rb[q][e];
            }
        } else if (B_MODE == 2) {
            int kk = l / (BN / 4), j = (l % (BN / 4)) * 4;
            Bs[(buf * BK + kk) * SB + j / 4] = rb[q];
        } else {
            [[unroll]] for (int e = 0; e < 4; e++) {
                int s = l + e * LB * NT;
                int j = s % BN, kk = s / BN;
                Bs[(buf * BK + kk) * SB + j / 4][j % 4] = rb[q][e];
            }
        }
    }
}

void main()
{
    Params p = Params(pc.params);
    uint tid = gl_LocalInvocationID.x;
    int tx = int(tid) % TX, ty = int(tid) / TX;

    // batch offsets (broadcast batch dims have stride 0)
    int64_t bi = p.batch0 + int64_t(gl_WorkGroupID.z), rem = bi, aoff = 0, boff = 0;
    for (int d = p.nbatch_dims - 1; d >= 0; d--) {
        int64_t c = rem % p.batch_shape[d];
        rem /= p.batch_shape[d];
        aoff += c * p.a_bstrides[d];
        boff += c * p.b_bstrides[d];
    }
    int esize = DT == DT_FLOAT32 ? 4 : 2;
    uint64_t abase = p.a + uint64_t(aoff * esize), bbase = p.b + uint64_t(boff * esize);
    int64_t row0 = (p.row_tile0 + int64_t(gl_WorkGroupID.y)) * BM;
    int64_t col0 = int64_t(gl_WorkGroupID.x) * BN;

    vec4 acc[TM * GN];                  // acc[row r][column group h]
    [[unroll]] for (int i = 0; i < TM * GN; i++) acc[i] = vec4(0.0);

    int64_t ntiles = (p.k + BK - 1) / BK;
    load_a(p, abase, row0, 0, tid);
    load_b(p, bbase, 0, col0, tid);
    store_a(0, tid);
    store_b(0, tid);
    barrier();
    for (int64_t t = 0; t < ntiles; t++) {
        int cur = int(t & 1);
        bool more = t + 1 < ntiles;
        if (more) {
            load_a(p, abase, row0, (t + 1) * BK, tid);
            load_b(p, bbase, (t + 1) * BK, col0, tid);
        }
        [[unroll]] for (int kk = 0; kk < BK; kk++) {
            vec4 av[GM], bv[GN];
            [[unroll]] for (int g = 0; g < GM; g++) {
                av[g] = As[(cur * BK + kk) * SA + g * (BM / TM) + ty];
            }
            [[unroll]] for (int h = 0; h < GN; h++) {
                bv[h] = Bs[(cur * BK + kk) * SB + h * TX + tx];
            }
            [[unroll]] for (int g = 0; g < GM; g++) {
                [[unroll]] for (int r = 0; r < 4; r++) {
                    [[unroll]] for (int h = 0; h < GN; h++) {
                        acc[(g * 4 + r) * GN + h] += av[g][r] * bv[h];
                    }
                }
            }
        }
        if (more) {
            store_a(cur ^ 1, tid);
            store_b(cur ^ 1, tid);
        }
        barrier();
    }

    // epilogue: out is contiguous (row stride m, batch stride n * m)
    int64_t obase = bi * p.n * p.m;
    [[unroll]] for (int g = 0; g < GM; g++) {
        [[unroll]] for (int r = 0; r < 4; r++) {
            int64_t row = row0 + (g * (BM / TM) + ty) * 4 + r;
            if (row >= p.n) continue;
            [[unroll]] for (int h = 0; h < GN; h++) {
                int64_t col = col0 + (h * TX + tx) * 4;
                vec4 v = acc[(g * 4 + r) * GN + h];
                int64_t o = obase + row * p.m + col;
                if (C_VEC == 1) {
                    if (col < p.m) BufV4(p.dst + uint64_t(o * 4l)).v[0] = v;
                } else {
                    [[unroll]] for (int e = 0; e < 4; e++) {
                        if (col + e < p.m) store_f(p.dst, DT, o + e, v[e]);
                    }
                }
            }
        }
    }
}
