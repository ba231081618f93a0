#version 450
// copy.comp -- copy, reshape and astype of a strided input into a
// contiguous output (row-major order of the input's shape), host side
// vk_copy / vk_astype in core/vk_kernels_elementwise.c. Same dtype: a bit
// copy; else a conversion with the CPU's rules (integers wrap when both
// dtypes are integers; float -> integer truncates and saturates, NaN -> 0;
// float16/bfloat16 round to nearest even).
//
// Specialization constants: 1 DT_IN, 2 DT_OUT, 3 INT_DOMAIN, 4 CONTIG
// (input contiguous: EW_EPT elements per invocation), 5 SCALAR (contiguous
// variant: the input is one element, broadcast).

#include "elementwise.glsl"

layout(constant_id = 1) const int DT_IN = DT_FLOAT32;
layout(constant_id = 2) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 3) const int INT_DOMAIN = 0;
layout(constant_id = 4) const int CONTIG = 0;
layout(constant_id = 5) const int SCALAR = 0;
layout(constant_id = 6) const int VEC4 = 0;   // same dtype, 16-byte aligned: n counts uvec4s

layout(buffer_reference, std430, buffer_reference_align = 16) buffer BufV4 { uvec4 v[]; };

void apply(uint64_t x, int64_t i, uint64_t y, int64_t j)
{
    if (DT_IN == DT_OUT) {
        switch (DT_IN) {
        case DT_BOOL: case DT_UINT8:
            BufU8(y + uint64_t(j)).v[0] = BufU8(x + uint64_t(i)).v[0];
            break;
        case DT_FLOAT16: case DT_BFLOAT16:
            BufU16(y + uint64_t(j * 2l)).v[0] = BufU16(x + uint64_t(i * 2l)).v[0];
            break;
        case DT_INT64:
            BufI64(y + uint64_t(j * 8l)).v[0] = BufI64(x + uint64_t(i * 8l)).v[0];
            break;
        default:
            BufU32(y + uint64_t(j * 4l)).v[0] = BufU32(x + uint64_t(i * 4l)).v[0];
            break;
        }
    } else if (INT_DOMAIN != 0) {
        st_i(y, DT_OUT, j, ld_i(x, DT_IN, i));
    } else {
        st_f(y, DT_OUT, j, ld_f(x, DT_IN, i));
    }
}

void main()
{
    EwParams p = EwParams(pc.params);
    uint64_t y = p.dst, x = p.src[0], n = p.n;
    if (VEC4 != 0) {
        uint64_t base = ew_tile_base();
        for (int j = 0; j < EW_EPT; j++) {
            uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
            if (i >= n) break;
            BufV4(y).v[uint(i)] = BufV4(x).v[uint(i)];
        }
        return;
    }
    if (CONTIG != 0) {
        uint64_t base = ew_tile_base();
        for (int j = 0; j < EW_EPT; j++) {
            uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
            if (i >= n) break;
            apply(x, SCALAR != 0 ? 0l : int64_t(i), y, int64_t(i));
        }
    } else {
        uint64_t i = linear_id();
        if (i >= n) return;
        int64_t off[3];
        ew_offsets(p, i, 1, off);
        apply(x, off[0], y, int64_t(i));
    }
}
