#version 450
// unary.comp -- the unary elementwise ops (TY_UNARY_OPS), host side
// vk_unary in core/vk_kernels_elementwise.c, semantics of cpu_unary.
//
// Specialization constants: 1 OP (index in TY_UNARY_OPS), 2 DT_IN,
// 3 DT_OUT, 4 INT_DOMAIN (exact int64 arithmetic: integer input and output,
// an op that keeps integers), 5 CONTIG (input contiguous or a broadcast
// scalar: EW_EPT elements per invocation; else strided through EwParams),
// 6 SCALAR (contiguous variant: the input is one element).
// Float ops run in float32 (float16/bfloat16 converted on load/store).

#include "elementwise.glsl"

layout(constant_id = 1) const int OP = 0;
layout(constant_id = 2) const int DT_IN = DT_FLOAT32;
layout(constant_id = 3) const int DT_OUT = DT_FLOAT32;
layout(constant_id = 4) const int INT_DOMAIN = 0;
layout(constant_id = 5) const int CONTIG = 0;
layout(constant_id = 6) const int SCALAR = 0;

// ops, in the order of TY_UNARY_OPS (core/tycho.h)
#define NEG 0
#define ABS 1
#define SIGN 2
#define EXP 3
#define LOG 4
#define LOG1P 5
#define EXPM1 6
#define SQRT 7
#define RSQRT 8
#define SQUARE 9
#define RECIPROCAL 10
#define SIN 11
#define COS 12
#define TAN 13
#define TANH 14
#define SIGMOID 15
#define RELU 16
#define GELU 17
#define GELU_TANH 18
#define SILU 19
#define SOFTPLUS 20
#define ERF 21
#define ERFINV 22
#define FLOOR 23
#define CEIL 24
#define ROUND 25
#define LOGICAL_NOT 26
#define ISNAN 27
#define ISINF 28
#define ASIN 29
#define ACOS 30
#define ATAN 31
#define SINH 32
#define COSH 33
#define LOG2 34
#define LOG10 35
#define EXP2 36
#define TRUNC 37

float unary_f(float v)
{
    switch (OP) {
    case NEG: return -v;
    case ABS: return abs(v);
    case SIGN: return v > 0.0 ? 1.0 : v < 0.0 ? -1.0 : v;
    case EXP: return exp_acc(v);
    case LOG: return log_acc(v);
    case LOG1P: return log1p_acc(v);
    case EXPM1: return expm1_acc(v);
    case SQRT: return v < 0.0 ? F_NAN : sqrt(v);
    case RSQRT: return v < 0.0 ? F_NAN : 1.0 / sqrt(v);
    case SQUARE: return v * v;
    case RECIPROCAL: return 1.0 / v;
    case SIN: return sin(v);
    case COS: return cos(v);
    case TAN: return tan(v);
    case TANH: return tanh_acc(v);
    case SIGMOID: return sigmoid_acc(v);
    case RELU: return v < 0.0 ? 0.0 : v;
    case GELU: return 0.5 * v * erfc_acc(v * -0.70710678118654752);
    case GELU_TANH: {
        // 0.5 (1 + tanh(u)) = sigmoid(2u): no cancellation for v < 0
        float u = 0.79788456080286536 * (v + 0.044715 * v * v * v);
        return v * sigmoid_acc(2.0 * u);
    }
    case SILU: return v * sigmoid_acc(v);
    case SOFTPLUS: return (v > 0.0 ? v : 0.0) + log1p_acc(exp_acc(-abs(v)));
    case ERF: return erf_acc(v);
    case ERFINV: return erfinv_acc(v);
    case FLOOR: return floor(v);
    case CEIL: return ceil(v);
    case ROUND: return roundEven(v);
    case LOGICAL_NOT: return v == 0.0 ? 1.0 : 0.0;
    case ISNAN: return isnan(v) ? 1.0 : 0.0;
    case ISINF: return isinf(v) ? 1.0 : 0.0;
    case ASIN: return asin_acc(v);
    case ACOS: return acos_acc(v);
    case ATAN: return atan_acc(v);
    case SINH: return sinh_acc(v);
    case COSH: return cosh_acc(v);
    case LOG2: return log2_acc(v);
    case LOG10: return log_acc(v) * 0.43429448190325182;
    case EXP2: return exp2_acc(v);
    case TRUNC: return trunc(v);
    default: return F_NAN;
    }
}

// Integer domain (wrapping, as unary_i64 on the CPU).
int64_t unary_i(int64_t v)
{
    switch (OP) {
    case NEG: return -v;
    case ABS: return neg64(v) ? -v : v;
    case SIGN: return neg64(v) ? -1l : v == 0l ? 0l : 1l;
    case SQUARE: return v * v;
    case RELU: return neg64(v) ? 0l : v;
    case LOGICAL_NOT: return v == 0l ? 1l : 0l;
    case ISNAN: case ISINF: return 0l;
    default: return v;                           // floor, ceil, round, trunc
    }
}

void apply(uint64_t x, int64_t i, uint64_t y, int64_t j)
{
    if (INT_DOMAIN != 0) st_i(y, DT_OUT, j, unary_i(ld_i(x, DT_IN, i)));
    else st_f(y, DT_OUT, j, unary_f(ld_f(x, DT_IN, i)));
}

void main()
{
    EwParams p = EwParams(pc.params);
    uint64_t y = p.dst, x = p.src[0], n = p.n;
    if (CONTIG != 0) {
        uint64_t base = ew_tile_base();
        for (int j = 0; j < EW_EPT; j++) {
            uint64_t i = base + uint64_t(j) * uint64_t(gl_WorkGroupSize.x);
            if (i < n) apply(x, SCALAR != 0 ? 0l : int64_t(i), y, int64_t(i));
        }
    } else {
        uint64_t i = linear_id();
        if (i >= n) return;
        int64_t off[3];
        ew_offsets(p, i, 1, off);
        apply(x, off[0], y, int64_t(i));
    }
}
