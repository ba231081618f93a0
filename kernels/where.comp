#version 450
// where.comp -- where(cond, a, b), host side vk_where in
// core/vk_kernels_elementwise.c, semantics of cpu_where: cond != 0 (NaN
// counts as true) picks a. Values move in int64 when a, b and the output are
// all integers (exact), else in float32.
//
// Specialization constants: 1 DT_C, 2 DT_A, 3 DT_B, 4 DT_OUT, 5 INT_DOMAIN,
// 6 CONTIG (each input contiguous or a broadcast scalar), 7 SCALARS
// (contiguous variant: bit k set when input k is one element).

#include "elementwise.glsl"

layout(constant_id = 1) const int DT_C = DT_BOOL;
layout(constant_id = 2) const int DT_A = DT_FLOAT32;
layout(constant_id = 3) const int DT_B = DT_FLOAT32;
layout(constant_id = 4) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 5) const int INT_DOMAIN = 0;
layout(constant_id = 6) const int CONTIG = 0;
layout(constant_id = 7) const int SCALARS = 0;

void apply(EwParams p, int64_t ic, int64_t ia, int64_t ib, uint64_t y, int64_t j)
{
    bool c = ld_f(p.src[0], DT_C, ic) != 0.0;
    if (INT_DOMAIN != 0) {
        st_i(y, DT_OUT, j, c ? ld_i(p.src[1], DT_A, ia) : ld_i(p.src[2], DT_B, ib));
    } else {
        st_f(y, DT_OUT, j, c ? ld_f(p.src[1], DT_A, ia) : ld_f(p.src[2], DT_B, ib));
    }
}

void main()
{
    EwParams p = EwParams(pc.params);
    uint64_t y = p.dst, n = p.n;
    if (CONTIG != 0) {
        uint64_t base = ew_tile_base();
        for (int j = 0; j < EW_EPT; j++) {
            uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
            if (i >= n) break;
            int64_t k = int64_t(i);
            apply(p, (SCALARS & 1) != 0 ? 0l : k, (SCALARS & 2) != 0 ? 0l : k,
                  (SCALARS & 4) != 0 ? 0l : k, y, k);
        }
    } else {
        uint64_t i = linear_id();
        if (i >= n) return;
        int64_t off[3];
        ew_offsets(p, i, 3, off);
        apply(p, off[0], off[1], off[2], y, int64_t(i));
    }
}
