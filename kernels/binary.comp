#version 450
// binary.comp -- the binary elementwise ops (TY_BINARY_OPS), host side
// vk_binary in core/vk_kernels_elementwise.c, semantics of cpu_binary.
//
// Specialization constants: 1 OP (index in TY_BINARY_OPS), 2 DT_A, 3 DT_B,
// 4 DT_OUT, 5 INT_DOMAIN (exact int64 arithmetic: every operand an
// integer, not div/atan2), 6 CONTIG (each input contiguous or a broadcast
// scalar: EW_EPT elements per invocation; else strided through EwParams),
// 7 SCALARS (contiguous variant: bit k set when input k is one element).
// Float ops run in float32; integer ops wrap; x // 0 and x % 0 give 0;
// floor division and remainder follow Python's signs.

#include "elementwise.glsl"

layout(constant_id = 1) const int OP = 0;
layout(constant_id = 2) const int DT_A = DT_FLOAT32;
layout(constant_id = 3) const int DT_B = DT_FLOAT32;
layout(constant_id = 4) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 5) const int INT_DOMAIN = 0;
layout(constant_id = 6) const int CONTIG = 0;
layout(constant_id = 7) const int SCALARS = 0;

// ops, in the order of TY_BINARY_OPS (core/tycho.h)
#define ADD 0
#define SUB 1
#define MUL 2
#define DIV 3
#define FLOOR_DIVIDE 4
#define POW 5
#define MAXIMUM 6
#define MINIMUM 7
#define REMAINDER 8
#define ATAN2 9
#define EQ 10
#define NE 11
#define LT 12
#define LE 13
#define GT 14
#define GE 15
#define LOGICAL_AND 16
#define LOGICAL_OR 17

float binary_f(float u, float v)
{
    switch (OP) {
    case ADD: return u + v;
    case SUB: return u - v;
    case MUL: return u * v;
    case DIV: return u / v;
    case FLOOR_DIVIDE: return floor_div_acc(u, v);
    case POW: return pow_acc(u, v);
    case MAXIMUM: return (u > v || isnan(u)) ? u : v;
    case MINIMUM: return (u < v || isnan(u)) ? u : v;
    case REMAINDER: return remainder_acc(u, v);
    case ATAN2: return atan2_acc(u, v);
    case EQ: return u == v ? 1.0 : 0.0;
    case NE: return u != v ? 1.0 : 0.0;
    case LT: return u < v ? 1.0 : 0.0;
    case LE: return u <= v ? 1.0 : 0.0;
    case GT: return u > v ? 1.0 : 0.0;
    case GE: return u >= v ? 1.0 : 0.0;
    case LOGICAL_AND: return u != 0.0 && v != 0.0 ? 1.0 : 0.0;
    case LOGICAL_OR: return u != 0.0 || v != 0.0 ? 1.0 : 0.0;
    default: return F_NAN;
    }
}

// a / b truncated, for b not 0 or -1 (unsigned division: defined everywhere).
int64_t div_trunc(int64_t a, int64_t b)
{
    uint64_t q = uint64_t(neg64(a) ? -a : a) / uint64_t(neg64(b) ? -b : b);
    return neg64(a) != neg64(b) ? -int64_t(q) : int64_t(q);
}

int64_t floor_div_i(int64_t a, int64_t b)
{
    if (b == 0l) return 0l;
    if (b == -1l) return -a;
    int64_t q = div_trunc(a, b);
    if (a - q * b != 0l && neg64(a) != neg64(b)) q -= 1l;
    return q;
}

int64_t remainder_i(int64_t a, int64_t b)
{
    if (b == 0l || b == -1l) return 0l;
    int64_t r = a - div_trunc(a, b) * b;
    if (r != 0l && neg64(r) != neg64(b)) r += b;
    return r;
}

// Power by squaring (wrapping); negative exponents give 0 except bases +-1.
int64_t pow_i(int64_t base, int64_t e)
{
    if (neg64(e)) {
        if (base == 1l) return 1l;
        if (base == -1l) return (e & 1l) != 0l ? -1l : 1l;
        return 0l;
    }
    uint64_t r = 1ul, b = uint64_t(base);
    while (e != 0l) {
        if ((e & 1l) != 0l) r *= b;
        b *= b;
        e >>= 1;
    }
    return int64_t(r);
}

int64_t binary_i(int64_t u, int64_t v)
{
    switch (OP) {
    case ADD: return u + v;
    case SUB: return u - v;
    case MUL: return u * v;
    case FLOOR_DIVIDE: return floor_div_i(u, v);
    case POW: return pow_i(u, v);
    case MAXIMUM: return u > v ? u : v;
    case MINIMUM: return u < v ? u : v;
    case REMAINDER: return remainder_i(u, v);
    case EQ: return u == v ? 1l : 0l;
    case NE: return u != v ? 1l : 0l;
    case LT: return u < v ? 1l : 0l;
    case LE: return u <= v ? 1l : 0l;
    case GT: return u > v ? 1l : 0l;
    case GE: return u >= v ? 1l : 0l;
    case LOGICAL_AND: return u != 0l && v != 0l ? 1l : 0l;
    case LOGICAL_OR: return u != 0l || v != 0l ? 1l : 0l;
    default: return 0l;                          // div, atan2: never integer
    }
}

void apply(uint64_t a, int64_t ia, uint64_t b, int64_t ib, uint64_t y, int64_t j)
{
    if (INT_DOMAIN != 0) {
        st_i(y, DT_OUT, j, binary_i(ld_i(a, DT_A, ia), ld_i(b, DT_B, ib)));
    } else {
        st_f(y, DT_OUT, j, binary_f(ld_f(a, DT_A, ia), ld_f(b, DT_B, ib)));
    }
}

void main()
{
    EwParams p = EwParams(pc.params);
    uint64_t y = p.dst, a = p.src[0], b = p.src[1], n = p.n;
    if (CONTIG != 0) {
        uint64_t base = ew_tile_base();
        for (int j = 0; j < EW_EPT; j++) {
            uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
            if (i >= n) break;
            int64_t k = int64_t(i);
            apply(a, (SCALARS & 1) != 0 ? 0l : k, b, (SCALARS & 2) != 0 ? 0l : k, y, k);
        }
    } else {
        uint64_t i = linear_id();
        if (i >= n) return;
        int64_t off[3];
        ew_offsets(p, i, 2, off);
        apply(a, off[0], b, off[1], y, int64_t(i));
    }
}
