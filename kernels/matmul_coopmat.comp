#version 450
// matmul_coopmat.comp -- batched float16 matmul on matrix units
// (GL_NV_cooperative_matrix, 16x16x16 fragments, float32 accumulation,
// float16 result): out[b] (n x m) = a[b] (n x k) @ b[b] (k x m).
//
// The host uses it only when vk_facts()->coopmat, the dtype is float16,
// n, m and k are multiples of 16, and each operand is row- or column-major
// with 16-byte aligned rows (otherwise matmul.comp runs).
//
// Structure:
//   - a workgroup computes a BM x BN block of out with (BM/WM) x (BN/WN)
//     subgroups, each owning a WM x WN warp tile of (WM/16) x (WN/16)
//     float32 accumulator fragments;
//   - k advances in steps of BK: the A (BM x BK) and B (BK x BN) tiles are
//     copied from global memory in 16-byte chunks (uvec4 = 8 halves) into
//     double-buffered shared memory, in the operand's own orientation
//     (A_T / B_T: 1 when the operand is stored column-major, i.e. transposed
//     in memory; fragments are then loaded with colMajor = true). Rows are
//     padded by 16 bytes so fragment loads are free of bank conflicts;
//   - the next tiles are fetched into registers while the current ones are
//     multiplied: one barrier per k step.
// Fragment load/store offsets and strides are in units of the array element
// (uvec4 in shared memory, float16_t for the output).
// Workgroup size (constant 0) = (BM/WM) * (BN/WN) * subgroup size.
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"

layout(constant_id = 1) const int BM = 128;
layout(constant_id = 2) const int BN = 128;
layout(constant_id = 3) const int BK = 32;
layout(constant_id = 4) const int WM = 64;
layout(constant_id = 5) const int WN = 32;
layout(constant_id = 6) const int A_T = 0;  // 1: a's rows are contiguous (a transposed)
layout(constant_id = 7) const int B_T = 0;  // 1: b's columns are contiguous (x @ W.T)

// Mirrors vk_matmul_params in core/vk_kernels_matmul.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t a, b, dst;
    int64_t n, m, k;
    int64_t sa_r, sa_c;
    int64_t sb_r, sb_c;
    int64_t batch0;
    int64_t row_tile0;
    int64_t batch_shape[6];
    int64_t a_bstrides[6];
    int64_t b_bstrides[6];
    int nbatch_dims, pad_;
};

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufU4 { uvec4 v[]; };

#define FRAG16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define FRAG32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

const int FM = WM / 16, FN = WN / 16;           // fragments per warp tile
// A tile in shared memory: A_T = 0: BM rows of BK halves; A_T = 1: BK rows of BM
const int A_ROWS = A_T == 0 ? BM : BK;
const int A_SV = (A_T == 0 ? BK : BM) / 8 + 1;  // row stride in uvec4s (padded)
// B tile: B_T = 0: BK rows of BN halves; B_T = 1: BN rows of BK
const int B_ROWS = B_T == 0 ? BK : BN;
const int B_SV = (B_T == 0 ? BN : BK) / 8 + 1;
const int LA = BM * BK / 8;                     // 16-byte chunks per A tile
const int LB = BK * BN / 8;

shared uvec4 As[2 * A_ROWS * A_SV];
shared uvec4 Bs[2 * B_ROWS * B_SV];

// Up to 4 chunks per invocation per operand (asserted on the host).
uvec4 ra[4], rb[4];

void load_tiles(Params p, uint64_t abase, uint64_t bbase, int64_t row0, int64_t col0,
                int64_t k0, uint tid, uint nt)
{
    [[unroll]] for (int q = 0; q < 4; q++) {
        int l = int(tid) + q * int(nt);
        if (l < LA) {
            int64_t r, c, off;
            if (A_T == 0) {
                r = row0 + l / (BK / 8);
                c = k0 + (l % (BK / 8)) * 8;
                off = r * p.sa_r + c;
            } else {
                c = k0 + l / (BM / 8);
                r = row0 + (l % (BM / 8)) * 8;
                off = r + c * p.sa_c;
            }
            ra[q] = r < p.n && c < p.k ? BufU4(abase + uint64_t(off * 2l)).v[0] : uvec4(0);
        }
        if (l < LB) {
            int64_t r, c, off;
            if (B_T == 0) {
                r = k0 + l / (BN / 8);
                c = col0 + (l % (BN / 8)) * 8;
                off = r * p.sb_r + c;
            } else {
                c = col0 + l / (BK / 8);
                r = k0 + (l % (BK / 8)) * 8;
                off = r + c * p.sb_c;
            }
            rb[q] = r < p.k && c < p.m ? BufU4(bbase + uint64_t(off * 2l)).v[0] : uvec4(0);
        }
    }
}

void store_tiles(int buf, uint tid, uint nt)
{
    [[unroll]] for (int q = 0; q < 4; q++) {
        int l = int(tid) + q * int(nt);
        if (l < LA) {
            int per_row = (A_T == 0 ? BK : BM) / 8;
            As[(buf * A_ROWS + l / per_row) * A_SV + l % per_row] = ra[q];
        }
        if (l < LB) {
            int per_row = (B_T == 0 ? BN : BK) / 8;
            Bs[(buf * B_ROWS + l / per_row) * B_SV + l % per_row] = rb[q];
        }
    }
}

void main()
{
    Params p = Params(pc.params);
    uint tid = gl_LocalInvocationID.x, nt = gl_WorkGroupSize.x;
    int warp = int(gl_SubgroupID);
    int wy = warp / (BN / WN), wx = warp % (BN / WN);

    int64_t bi = p.batch0 + int64_t(gl_WorkGroupID.z), rem = bi, aoff = 0, boff = 0;
    for (int d = p.nbatch_dims - 1; d >= 0; d--) {
        int64_t c = rem % p.batch_shape[d];
        rem /= p.batch_shape[d];
        aoff += c * p.a_bstrides[d];
        boff += c * p.b_bstrides[d];
    }
    uint64_t abase = p.a + uint64_t(aoff * 2l), bbase = p.b + uint64_t(boff * 2l);
    int64_t row0 = (p.row_tile0 + int64_t(gl_WorkGroupID.y)) * BM;
    int64_t col0 = int64_t(gl_WorkGroupID.x) * BN;

    FRAG32 acc[FM * FN];
    [[unroll]] for (int i = 0; i < FM * FN; i++) acc[i] = FRAG32(0.0);

    int64_t ntiles = (p.k + BK - 1) / BK;
    load_tiles(p, abase, bbase, row0, col0, 0, tid, nt);
    store_tiles(0, tid, nt);
    barrier();
    for (int64_t t = 0; t < ntiles; t++) {
        int cur = int(t & 1);
        bool more = t + 1 < ntiles;
        if (more) load_tiles(p, abase, bbase, row0, col0, (t + 1) * BK, tid, nt);
        [[unroll]] for (int s = 0; s < BK / 16; s++) {
            FRAG16 fa[FM], fb[FN];
            [[unroll]] for (int i = 0; i < FM; i++) {
                int r = wy * WM + i * 16;   // row inside the block tile
                if (A_T == 0) {
                    coopMatLoadNV(fa[i], As, uint((cur * A_ROWS + r) * A_SV + s * 2),
                                  uint(A_SV), false);
                } else {
                    coopMatLoadNV(fa[i], As, uint((cur * A_ROWS + s * 16) * A_SV + r / 8),
                                  uint(A_SV), true);
                }
            }
            [[unroll]] for (int j = 0; j < FN; j++) {
                int c = wx * WN + j * 16;   // column inside the block tile
                if (B_T == 0) {
                    coopMatLoadNV(fb[j], Bs, uint((cur * B_ROWS + s * 16) * B_SV + c / 8),
                                  uint(B_SV), false);
                } else {
                    coopMatLoadNV(fb[j], Bs, uint((cur * B_ROWS + c) * B_SV + s * 2),
                                  uint(B_SV), true);
                }
            }
            [[unroll]] for (int i = 0; i < FM; i++) {
                [[unroll]] for (int j = 0; j < FN; j++) {
                    acc[i * FN + j] = coopMatMulAddNV(fa[i], fb[j], acc[i * FN + j]);
                }
            }
        }
        if (more) store_tiles(cur ^ 1, tid, nt);
        barrier();
    }

    // out is contiguous: fragment (i, j) starts at row, col; row stride m
    [[unroll]] for (int i = 0; i < FM; i++) {
        int64_t row = row0 + wy * WM + i * 16;
        [[unroll]] for (int j = 0; j < FN; j++) {
            int64_t col = col0 + wx * WN + j * 16;
            if (row < p.n && col < p.m) {
                FRAG16 h = FRAG16(acc[i * FN + j]);
                uint64_t addr = p.dst + uint64_t(((bi * p.n + row) * p.m + col) * 2l);
                coopMatStoreNV(h, BufF16(addr).v, 0u, uint(p.m), false);
            }
        }
    }
}
