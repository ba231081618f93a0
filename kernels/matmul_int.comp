#version 450
// matmul_int.comp -- batched matmul of integer dtypes (uint8, int32, int64):
// one invocation per element of out, a wrapping int64 dot product along k
// (the CPU's rule), stored with store_i (narrower types wrap). Simple on
// purpose: integer matmul is rare and never performance critical. Same
// parameter block as matmul.comp (vk_matmul_params).
#include "common.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t a, b, dst;
    int64_t n, m, k;
    int64_t sa_r, sa_c;
    int64_t sb_r, sb_c;
    int64_t batch0;             // unused here: the grid covers every batch
    int64_t row_tile0;          // unused
    int64_t batch_shape[6];
    int64_t a_bstrides[6];
    int64_t b_bstrides[6];
    int nbatch_dims, dtype;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    int64_t nm = p.n * p.m;
    int64_t e = int64_t(id);
    int64_t total = nm;
    for (int d = 0; d < p.nbatch_dims; d++) total *= p.batch_shape[d];
    if (e >= total) return;
    int64_t bi = e / nm, ij = e % nm, i = ij / p.m, j = ij % p.m;
    int64_t rem = bi, ao = i * p.sa_r, bo = j * p.sb_c;
    for (int d = p.nbatch_dims - 1; d >= 0; d--) {
        int64_t c = rem % p.batch_shape[d];
        rem /= p.batch_shape[d];
        ao += c * p.a_bstrides[d];
        bo += c * p.b_bstrides[d];
    }
    int64_t acc = 0;
    for (int64_t t = 0; t < p.k; t++) {
        acc += load_i(p.a, p.dtype, ao + t * p.sa_c) * load_i(p.b, p.dtype, bo + t * p.sb_r);
    }
    store_i(p.dst, p.dtype, e, acc);
}
