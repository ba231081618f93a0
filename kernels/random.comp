#version 450
// random.comp -- TY_OP_RANDOM, host side vk_random in
// core/vk_kernels_elementwise.c, semantics of cpu_random: element i is a
// pure function of (key, i) through the Philox-4x32-10 stream of
// core/philox.c (word j = word j % 4 of the block at counter j / 4).
// Invocation t computes block t: elements 4t..4t+3 for one-word
// distributions, 2t and 2t+1 for two-word ones (normal, randint).
// bits, uniform, randint and bernoulli are bit-identical to the CPU;
// normal and truncated_normal agree within a tolerance (float32 math).
//
// Specialization constants: 1 KIND (ty_random_kind), 2 DT_OUT.

#include "elementwise.glsl"

layout(constant_id = 1) const int KIND = 0;
layout(constant_id = 2) const int DT_OUT = DT_FLOAT32;

#define BITS 0
#define UNIFORM 1
#define NORMAL 2
#define RANDINT 3
#define TRUNCATED_NORMAL 4
#define BERNOULLI 5

// Mirrors vk_random_params in core/vk_kernels_elementwise.c.
layout(buffer_reference, std430, buffer_reference_align = 8) restrict readonly buffer Params {
    uint64_t dst;
    uint64_t n;
    uint key0, key1;
    float a, b;                      // uniform: lo, hi - lo; normal: mean, std;
                                     // truncated: cdf(lo), cdf(hi) - cdf(lo)
    float lo, hi;                    // truncated: the bounds
    uint threshold;                  // bernoulli: true when (w >> 8) < threshold
    uint pad_;
    int64_t ilo;                     // randint: low
    uint64_t range;                  // randint: high - low + 1 (0: 2^64)
};

uvec4 philox(uvec2 key, uvec4 c)
{
    for (int r = 0; r < 10; r++) {
        uint hi0, lo0, hi1, lo1;
        umulExtended(0xD2511F53u, c.x, hi0, lo0);
        umulExtended(0xCD9E8D57u, c.z, hi1, lo1);
        c = uvec4(hi1 ^ c.y ^ key.x, lo1, hi0 ^ c.w ^ key.y, lo0);
        key += uvec2(0x9E3779B9u, 0xBB67AE85u);
    }
    return c;
}

float unit(uint w) { return float(w >> 8) * (1.0 / 16777216.0); }

// One-word draws.
void draw1(Params p, uint64_t y, int64_t i, uint w)
{
    switch (KIND) {
    case BITS: st_i(y, DT_OUT, i, int64_t(w)); break;
    case UNIFORM: {
        st_f(y, DT_OUT, i, fma_exact(p.b, unit(w), p.a));   // fmaf on the CPU
        break;
    }
    case TRUNCATED_NORMAL: {
        float q = p.a + p.b * unit(w);
        float z = 1.41421356 * erfinv_acc(2.0 * q - 1.0);
        st_f(y, DT_OUT, i, clamp(z, p.lo, p.hi));
        break;
    }
    default:                                     // bernoulli
        st_i(y, DT_OUT, i, (w >> 8) < p.threshold ? 1l : 0l);
        break;
    }
}

// Two-word draws (words 2i and 2i + 1).
void draw2(Params p, uint64_t y, int64_t i, uint w0, uint w1)
{
    if (KIND == NORMAL) {
        float u1 = float((w0 >> 8) + 1u) * (1.0 / 16777216.0);
        float u2 = unit(w1);
        float z = sqrt(-2.0 * log_acc(u1)) * cos(6.2831853071795865 * u2);
        st_f(y, DT_OUT, i, p.a + p.b * z);
    } else {                                     // randint
        uint64_t r = (uint64_t(w0) << 32) | uint64_t(w1);
        if (p.range != 0ul) r %= p.range;
        st_i(y, DT_OUT, i, int64_t(uint64_t(p.ilo) + r));
    }
}

void main()
{
    Params p = Params(pc.params);
    uint64_t y = p.dst, n = p.n;
    uint64_t t = linear_id();
    bool two = KIND == NORMAL || KIND == RANDINT;
    if ((two ? 2ul : 4ul) * t >= n) return;
    uvec4 w = philox(uvec2(p.key0, p.key1), uvec4(uint(t), uint(t >> 32), 0u, 0u));
    if (two) {
        int64_t i = int64_t(2ul * t);
        if (uint64_t(i) < n) draw2(p, y, i, w.x, w.y);
        if (uint64_t(i + 1l) < n) draw2(p, y, i + 1l, w.z, w.w);
    } else {
        int64_t i = int64_t(4ul * t);
        for (int r = 0; r < 4; r++) {
            if (uint64_t(i + r) < n) draw1(p, y, i + r, w[r]);
        }
    }
}
