#version 450
// creation.comp -- full, arange, linspace, eye into a contiguous output,
// host side vk_creation in core/vk_kernels_elementwise.c, semantics of
// cpu_creation.
//   full:     the host converts the fill value to the output dtype's bits
//             with the CPU's rules; the kernel stores those bits (exact).
//   arange:   start + i * step, in int64 when start and step are integers
//             (exact, then saturated into the dtype like the CPU's double),
//             else in float32 (fma; the CPU rounds a double: within 1 ulp).
//   linspace: a + (b - a) * i / (n - 1) in float32, the last element b.
//   eye:      1 where col - row == k.
//
// Specialization constants: 1 OP (0 full, 1 arange, 2 linspace, 3 eye),
// 2 DT_OUT, 3 INTEGRAL (arange in int64).

#include "elementwise.glsl"

layout(constant_id = 1) const int OP = 0;
layout(constant_id = 2) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 3) const int INTEGRAL = 0;

#define FULL 0
#define ARANGE 1
#define LINSPACE 2
#define EYE 3

// Mirrors vk_creation_params in core/vk_kernels_elementwise.c.
layout(buffer_reference, std430, buffer_reference_align = 8) restrict readonly buffer Params {
    uint64_t dst;
    uint64_t n;
    uint64_t bits;                   // full: the value in DT_OUT's encoding
    int64_t istart, istep;           // arange, INTEGRAL
    int64_t cols, k;                 // eye
    float start, step;               // arange; linspace: a and b - a
    float last, den;                 // linspace: b and n - 1
};

// int64 into the dtype as the CPU stores a double: integers saturate.
void store_saturated(uint64_t y, int64_t j, int64_t v)
{
    if (DT_OUT == DT_INT32) {
        BufI32(y + uint64_t(j * 4l)).v[0] = int(clamp(v, -2147483648l, 2147483647l));
    } else if (DT_OUT == DT_UINT8) {
        BufU8(y + uint64_t(j)).v[0] = uint8_t(clamp(v, 0l, 255l));
    } else {
        st_i(y, DT_OUT, j, v);
    }
}

void fill(uint64_t y, int64_t j, uint64_t bits)
{
    switch (DT_OUT) {
    case DT_BOOL: case DT_UINT8: BufU8(y + uint64_t(j)).v[0] = uint8_t(bits); break;
    case DT_FLOAT16: case DT_BFLOAT16:
        BufU16(y + uint64_t(j * 2l)).v[0] = uint16_t(bits);
        break;
    case DT_INT64: BufI64(y + uint64_t(j * 8l)).v[0] = int64_t(bits); break;
    default: BufU32(y + uint64_t(j * 4l)).v[0] = uint(bits); break;
    }
}

void apply(Params p, uint64_t y, int64_t i)
{
    switch (OP) {
    case FULL: fill(y, i, p.bits); break;
    case ARANGE:
        if (INTEGRAL != 0) {
            store_saturated(y, i, p.istart + i * p.istep);
        } else {
            precise float v = fma(float(i), p.step, p.start);
            st_f(y, DT_OUT, i, v);
        }
        break;
    case LINSPACE: {
        float v = p.start + p.step * float(i) / p.den;
        if (i == int64_t(p.n) - 1l) v = p.last;
        st_f(y, DT_OUT, i, v);
        break;
    }
    default: {                                   // eye
        int64_t row = i / p.cols, col = i - row * p.cols;
        st_f(y, DT_OUT, i, col - row == p.k ? 1.0 : 0.0);
        break;
    }
    }
}

void main()
{
    Params p = Params(pc.params);
    uint64_t y = p.dst, n = p.n;
    uint64_t base = ew_tile_base();
    for (int j = 0; j < EW_EPT; j++) {
        uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
        if (i >= n) break;
        apply(p, y, int64_t(i));
    }
}
