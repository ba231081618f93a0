// elementwise.glsl -- shared by the elementwise kernels (creation, random,
// unary, binary, where, copy):
//   - EwParams, the parameter block of the strided kernels (mirrors
//     vk_ew_params in core/vk_kernels_elementwise.c), and ew_offsets(), the
//     element offsets of one row-major position in up to three operands;
//   - ld_f/ld_i/st_f/st_i: dtype load/store with the CPU's exact rules
//     (core/dtype.c): float16 converted in integer arithmetic (round to
//     nearest even, subnormals kept, whatever the driver's float modes),
//     float -> integer truncating and saturating, NaN -> 0;
//   - float32 math that GLSL lacks or leaves imprecise or undefined: exp/log
//     with argument reduction (~1 ulp), expm1, log1p, erf, erfc, erfinv,
//     tanh, sinh, cosh, pow, fmod, atan2 with C's special cases.
// The dtype arguments are specialization constants at every call site, so
// the switches fold away.

#include "common.glsl"

// ---------------------------------------------------------------- parameters

layout(buffer_reference, std430, buffer_reference_align = 8) restrict readonly buffer EwParams {
    uint64_t dst;                    // output address (contiguous)
    uint64_t src[3];                 // input addresses (offset folded in)
    uint64_t n;                      // number of output elements
    int ndim;                        // collapsed dims (0: a single element)
    int pad_;
    int64_t shape[MAX_DIMS];         // collapsed shape
    int64_t strides[3 * MAX_DIMS];   // operand k, dim d at k * MAX_DIMS + d
};

// Offsets (in elements) of row-major position `linear` in the first nops
// operands; 32-bit index math when the whole array allows it.
void ew_offsets(EwParams p, uint64_t linear, int nops, out int64_t off[3])
{
    off[0] = 0l;
    off[1] = 0l;
    off[2] = 0l;
    int nd = p.ndim;
    if (p.n <= 0xffffffffUL) {
        uint l = uint(linear);
        for (int d = nd - 1; d >= 0; d--) {
            uint s = uint(p.shape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            for (int k = 0; k < nops; k++) off[k] += c * p.strides[k * MAX_DIMS + d];
        }
    } else {
        uint64_t l = linear;
        for (int d = nd - 1; d >= 0; d--) {
            uint64_t s = uint64_t(p.shape[d]);
            int64_t c = int64_t(l % s);
            l /= s;
            for (int k = 0; k < nops; k++) off[k] += c * p.strides[k * MAX_DIMS + d];
        }
    }
}

// Elements per invocation of the contiguous variants: invocation `lane` of
// workgroup g handles g * WG * EW_EPT + lane + j * WG, j < EW_EPT (coalesced,
// several loads in flight per invocation).
#define EW_EPT 4

uint64_t ew_tile_base()
{
    uint64_t wg = uint64_t(gl_WorkGroupSize.x);
    return (linear_id() / wg) * wg * uint64_t(EW_EPT) + uint64_t(gl_LocalInvocationID.x);
}

// v < 0 for int64 as a bit test (a defensive spelling: with Mesa 22.3's
// lavapipe, sign tests of int32 values widened by int64_t(int) came out
// false; see ld_i).
bool neg64(int64_t v) { return (uint64_t(v) >> 63) != 0ul; }

// ---------------------------------------------------------------- conversions

#define F_NAN uintBitsToFloat(0x7fc00000u)
#define F_INF uintBitsToFloat(0x7f800000u)

float half_to_float_bits(uint h)
{
    uint sign = (h & 0x8000u) << 16;
    uint e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0u) {
        float v = float(m) * 5.9604644775390625e-8;   // m * 2^-24, exact
        return sign != 0u ? -v : v;
    }
    if (e == 31u) return uintBitsToFloat(sign | 0x7f800000u | (m << 13));
    return uintBitsToFloat(sign | ((e + 112u) << 23) | (m << 13));
}

// Round to nearest even; overflow to inf; NaN stays a quiet NaN (ty_float_to_half).
uint float_to_half_bits(float f)
{
    uint x = floatBitsToUint(f);
    uint sign = (x >> 16) & 0x8000u;
    uint a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) {
        if (a == 0x7f800000u) return sign | 0x7c00u;
        return sign | 0x7e00u | ((a >> 13) & 0x3ffu);
    }
    if (a >= 0x47800000u) return sign | 0x7c00u;
    if (a < 0x38800000u) {                           // half subnormal
        if (a < 0x33000000u) return sign;
        uint e = a >> 23;
        uint m = (a & 0x7fffffu) | 0x800000u;
        uint shift = 126u - e;
        uint h = m >> shift;
        uint rem = m & ((1u << shift) - 1u);
        uint halfway = 1u << (shift - 1u);
        if (rem > halfway || (rem == halfway && (h & 1u) != 0u)) h++;
        return sign | h;
    }
    uint h = (a >> 13) - (112u << 10);
    uint rem = a & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u) != 0u)) h++;
    return sign | h;
}

float ld_f(uint64_t base, int dt, int64_t i)
{
    if (dt == DT_FLOAT16) return half_to_float_bits(uint(BufU16(base + uint64_t(i * 2l)).v[0]));
    return load_f(base, dt, i);
}

// float -> int64: NaN -> 0, truncate, saturate.
int64_t f_to_i64(float v)
{
    if (isnan(v)) return 0l;
    if (v <= -9223372036854775808.0) return int64_t(0x8000000000000000UL);
    if (v >= 9223372036854775808.0) return 0x7fffffffffffffffl;
    return int64_t(v);
}

int64_t ld_i(uint64_t base, int dt, int64_t i)
{
    if (dt_is_float(dt)) return f_to_i64(ld_f(base, dt, i));
    if (dt == DT_INT32) {
        // sign extension spelled out: lavapipe (Mesa 22.3) miscompiles sign
        // tests of a plain int -> int64_t conversion (abs, sign, floor
        // division of int32 came out wrong)
        int64_t v = int64_t(uint64_t(BufU32(base + uint64_t(i * 4l)).v[0]));
        return (v ^ 0x80000000l) - 0x80000000l;
    }
    return load_i(base, dt, i);
}

// float -> integer dtypes as ty__store_f64: NaN -> 0, truncate, saturate.
void st_f(uint64_t base, int dt, int64_t i, float v)
{
    switch (dt) {
    case DT_UINT8: {
        uint r = isnan(v) || v <= 0.0 ? 0u : v >= 255.0 ? 255u : uint(v);
        BufU8(base + uint64_t(i)).v[0] = uint8_t(r);
        break;
    }
    case DT_INT32: {
        int r = isnan(v) ? 0 : v <= -2147483648.0 ? int(0x80000000u)
              : v >= 2147483648.0 ? 0x7fffffff : int(v);
        BufI32(base + uint64_t(i * 4l)).v[0] = r;
        break;
    }
    case DT_INT64: BufI64(base + uint64_t(i * 8l)).v[0] = f_to_i64(v); break;
    case DT_FLOAT16:
        BufU16(base + uint64_t(i * 2l)).v[0] = uint16_t(float_to_half_bits(v));
        break;
    default: store_f(base, dt, i, v); break;
    }
}

// int64 -> dtype: integers wrap, floats round (ty__store_i64).
void st_i(uint64_t base, int dt, int64_t i, int64_t v)
{
    if (dt_is_float(dt)) st_f(base, dt, i, float(v));
    else store_i(base, dt, i, v);
}

// ---------------------------------------------------------------- exact arithmetic

// GLSL's fma() need not be fused (lavapipe splits it even under `precise`),
// so exact residuals use error-free transformations (Dekker, Knuth) instead.

// a * b = hi + lo exactly (Veltkamp split; no overflow assumed).
void two_prod(float a, float b, out float hi, out float lo)
{
    precise float ca = 4097.0 * a, cb = 4097.0 * b;
    precise float ah = ca - (ca - a), bh = cb - (cb - b);
    precise float al = a - ah, bl = b - bh;
    precise float p = a * b;
    precise float e = ((ah * bh - p) + ah * bl + al * bh) + al * bl;
    hi = p;
    lo = e;
}

// a + b = s + e exactly.
void two_sum(float a, float b, out float s, out float e)
{
    precise float t = a + b;
    precise float bb = t - a;
    precise float err = (a - (t - bb)) + (b - bb);
    s = t;
    e = err;
}

// a * b + c rounded once (Boldo & Melquiond: the inner sum rounded to odd).
float fma_exact(float a, float b, float c)
{
    float uh, ul, th, tl, v, e;
    two_prod(a, b, uh, ul);
    two_sum(c, uh, th, tl);
    two_sum(tl, ul, v, e);
    if (e != 0.0 && (floatBitsToUint(v) & 1u) == 0u) {
        uint bits = floatBitsToUint(v);
        v = uintBitsToFloat((e > 0.0) == (v > 0.0) ? bits + 1u : bits - 1u);
    }
    precise float r = th + v;
    return r;
}

// ---------------------------------------------------------------- exp / log

const float LN2_HI = 0.693145751953125;             // 12 trailing zero bits
const float LN2_LO = 1.428606765330187045e-6;
const float LOG2E = 1.4426950408889634;

// 2^k for k in [-126, 127], built from its bits (no reliance on ldexp's
// handling of out-of-range exponents).
float pow2i(int k) { return uintBitsToFloat(uint(k + 127) << 23); }

// p * 2^k for k in [-252, 254], in two exact steps (no overflow of 2^k).
float scale2(float p, int k)
{
    int k1 = k / 2;
    return p * pow2i(k1) * pow2i(k - k1);
}

// exp(a + b), |b| small next to |a| (b carries the low part of an argument).
float exp2_parts(float a, float b)
{
    float x = a + b;
    if (isnan(x)) return x;
    if (x > 88.72284) return F_INF;
    if (x < -103.97208) return 0.0;
    float k = roundEven(x * LOG2E);
    // separate exact steps: with fma, Mesa merged k*HI + k*LO into k*ln2
    precise float kh = k * LN2_HI;                   // exact (12 free bits)
    precise float r1 = a - kh;                       // exact
    precise float kl = k * LN2_LO;
    precise float r = (r1 - kl) + b;                 // |r| <= ~0.347
    // Taylor to degree 8: truncation < 2e-9 relative on |r| <= 0.35
    float p = 2.4801587e-5;
    p = fma(p, r, 1.9841270e-4);
    p = fma(p, r, 1.3888889e-3);
    p = fma(p, r, 8.3333333e-3);
    p = fma(p, r, 4.1666668e-2);
    p = fma(p, r, 0.16666667);
    p = fma(p, r, 0.5);
    p = fma(p, r, 1.0);
    p = fma(p, r, 1.0);
    return scale2(p, int(k));
}

float exp_acc(float x) { return exp2_parts(x, 0.0); }

// log(m) for m in [sqrt(1/2), sqrt(2)): 2 atanh(s), s = (m - 1) / (m + 1).
float log_mant(float m)
{
    float f = m - 1.0;
    float s = f / (2.0 + f);
    float z = s * s;
    float q = 0.11111111;                            // 1/9
    q = fma(q, z, 0.14285715);
    q = fma(q, z, 0.2);
    q = fma(q, z, 0.33333334);
    return fma(2.0 * s * z, q, 2.0 * s);
}

// x = m * 2^e with m in [sqrt(1/2), sqrt(2)); x finite and > 0.
float split_exp(float x, out int e)
{
    int ex = 0;
    if (x < 1.17549435e-38) {                        // subnormal: scale up first
        x *= 16777216.0;
        ex = -24;
    }
    uint bits = floatBitsToUint(x);
    ex += int((bits >> 23) & 0xffu) - 126;
    float m = uintBitsToFloat((bits & 0x007fffffu) | 0x3f000000u);   // [0.5, 1)
    if (m < 0.70710678) {
        m *= 2.0;
        ex -= 1;
    }
    e = ex;
    return m;
}

float log_acc(float x)
{
    if (isnan(x) || x < 0.0) return F_NAN;
    if (x == 0.0) return -F_INF;
    if (isinf(x)) return x;
    int e;
    float m = split_exp(x, e);
    float fe = float(e);
    return fma(fe, LN2_HI, fma(fe, LN2_LO, log_mant(m)));
}

float log2_acc(float x)
{
    if (isnan(x) || x < 0.0) return F_NAN;
    if (x == 0.0) return -F_INF;
    if (isinf(x)) return x;
    int e;
    float m = split_exp(x, e);
    return fma(log_mant(m), LOG2E, float(e));        // exact on powers of two
}

float exp2_acc(float x)
{
    if (isnan(x)) return x;
    if (x >= 128.0) return F_INF;
    if (x < -150.0) return 0.0;
    float k = roundEven(x);
    float r = (x - k) * 0.69314718;                  // x - k exact
    return scale2(exp2_parts(r, 0.0), int(k));
}

float expm1_acc(float x)
{
    if (abs(x) >= 0.5) return exp_acc(x) - 1.0;
    float u = exp_acc(x);
    if (u == 1.0) return x;
    float um1 = u - 1.0;
    return um1 * x / log_acc(u);                     // Kahan's trick
}

float log1p_acc(float x)
{
    if (isinf(x) && x > 0.0) return x;
    float u = 1.0 + x;
    if (u == 1.0) return x;
    return log_acc(u) * x / (u - 1.0);
}

// ---------------------------------------------------------------- hyperbolic

float tanh_acc(float x)
{
    float a = abs(x);
    float r;
    if (isnan(x)) return x;
    if (a >= 9.1) r = 1.0;
    else {
        float t = expm1_acc(-2.0 * a);
        r = -t / (t + 2.0);
    }
    return x < 0.0 ? -r : r;
}

float sinh_acc(float x)
{
    float a = abs(x), r;
    if (a < 1.0) {
        float t = expm1_acc(a);
        r = 0.5 * (t + t / (t + 1.0));
    } else if (a < 88.0) {
        float e = exp_acc(a);
        r = 0.5 * (e - 1.0 / e);
    } else {
        r = exp2_parts(a, -0.69314718);
    }
    return x < 0.0 ? -r : (isnan(x) ? x : r);
}

float cosh_acc(float x)
{
    float a = abs(x);
    if (a < 88.0) {
        float e = exp_acc(a);
        return 0.5 * (e + 1.0 / e);
    }
    return exp2_parts(a, -0.69314718);
}

float sigmoid_acc(float v)
{
    if (v >= 0.0) return 1.0 / (1.0 + exp_acc(-v));
    float e = exp_acc(v);
    return e / (1.0 + e);
}

// ---------------------------------------------------------------- erf family

// erfc(z) for z >= 0.5 (Numerical Recipes' Chebyshev fit, relative error
// < 1.2e-7), with z*z split exactly into hi + lo.
float erfc_tail(float z)
{
    float t = 1.0 / (1.0 + 0.5 * z);
    float p = 0.17087277;
    p = fma(p, t, -0.82215223);
    p = fma(p, t, 1.48851587);
    p = fma(p, t, -1.13520398);
    p = fma(p, t, 0.27886807);
    p = fma(p, t, -0.18628806);
    p = fma(p, t, 0.09678418);
    p = fma(p, t, 0.37409196);
    p = fma(p, t, 1.00002368);
    p = fma(p, t, -1.26551223);
    float hi, lo;
    two_prod(z, z, hi, lo);
    return t * exp2_parts(-hi, p - lo);
}

// erf(x) for |x| < 0.5: Taylor series in x^2 (truncation < 1e-10).
float erf_small(float x)
{
    float z = x * x;
    // 2/sqrt(pi) * sum (-1)^n x^(2n+1) / (n! (2n+1)), n = 0..7
    float p = -1.1283792 / 75600.0;                  // n = 7: 7! * 15
    p = fma(p, z, 1.1283792 / 9360.0);               // n = 6: 6! * 13
    p = fma(p, z, -1.1283792 / 1320.0);              // n = 5: 5! * 11
    p = fma(p, z, 1.1283792 / 216.0);                // n = 4: 4! * 9
    p = fma(p, z, -1.1283792 / 42.0);                // n = 3: 3! * 7
    p = fma(p, z, 1.1283792 / 10.0);                 // n = 2: 2! * 5
    p = fma(p, z, -1.1283792 / 3.0);                 // n = 1
    p = fma(p, z, 1.1283792);                        // n = 0
    return x * p;
}

float erf_acc(float x)
{
    if (isnan(x)) return x;
    float a = abs(x);
    if (a < 0.5) return erf_small(x);
    float r = a > 10.0 ? 1.0 : 1.0 - erfc_tail(a);
    return x < 0.0 ? -r : r;
}

float erfc_acc(float x)
{
    if (isnan(x)) return x;
    if (abs(x) < 0.5) return 1.0 - erf_small(x);
    if (x > 10.5) return 0.0;
    if (x < 0.0) return 2.0 - (x < -10.0 ? 0.0 : erfc_tail(-x));
    return erfc_tail(x);
}

// Giles' single-precision erfinv ("Approximating the erfinv function", GPU
// Gems 2010), then one Newton step on erf (on erfc past 0.5, where 1 - |x|
// is exact).
float erfinv_acc(float x)
{
    if (isnan(x) || abs(x) > 1.0) return F_NAN;
    if (abs(x) == 1.0) return x * F_INF;
    float a = abs(x);
    float w = -log_acc((1.0 - a) * (1.0 + a)), p;
    if (w < 5.0) {
        w -= 2.5;
        p = 2.81022636e-08;
        p = fma(p, w, 3.43273939e-07);
        p = fma(p, w, -3.5233877e-06);
        p = fma(p, w, -4.39150654e-06);
        p = fma(p, w, 0.00021858087);
        p = fma(p, w, -0.00125372503);
        p = fma(p, w, -0.00417768164);
        p = fma(p, w, 0.246640727);
        p = fma(p, w, 1.50140941);
    } else {
        w = sqrt(w) - 3.0;
        p = -0.000200214257;
        p = fma(p, w, 0.000100950558);
        p = fma(p, w, 0.00134934322);
        p = fma(p, w, -0.00367342844);
        p = fma(p, w, 0.00573950773);
        p = fma(p, w, -0.0076224613);
        p = fma(p, w, 0.00943887047);
        p = fma(p, w, 1.00167406);
        p = fma(p, w, 2.83297682);
    }
    float y = p * a;
    float d = 1.1283792 * exp_acc(-y * y);
    if (d > 0.0) {
        float f = a <= 0.5 ? erf_acc(y) - a : (1.0 - a) - erfc_acc(y);
        y -= f / d;
    }
    return x < 0.0 ? -y : y;
}

// ---------------------------------------------------------------- pow, fmod, atan2

bool sign_bit(float x) { return (floatBitsToUint(x) & 0x80000000u) != 0u; }

float copy_sign(float m, float s) { return sign_bit(s) != sign_bit(m) ? -m : m; }

// C's pow: special cases of C99 F.9.4.4; exact products for small integer
// exponents, exp(y log|x|) otherwise.
float pow_acc(float x, float y)
{
    if (y == 0.0 || x == 1.0) return 1.0;
    if (isnan(x) || isnan(y)) return x + y;
    float ax = abs(x);
    bool yint = trunc(y) == y;
    bool yodd = yint && abs(y) < 16777216.0 && fract(abs(y) * 0.5) == 0.5;
    if (isinf(y)) {
        if (ax == 1.0) return 1.0;
        return (ax > 1.0) == (y > 0.0) ? F_INF : 0.0;
    }
    if (x < 0.0 && !yint) return F_NAN;
    float r;
    if (ax == 0.0) r = y < 0.0 ? F_INF : 0.0;
    else if (isinf(ax)) r = y < 0.0 ? 0.0 : F_INF;
    else if (yint && abs(y) <= 64.0) {
        int e = int(abs(y));
        float b = ax;
        r = 1.0;
        while (e != 0) {
            if ((e & 1) != 0) r *= b;
            b *= b;
            e >>= 1;
        }
        if (y < 0.0) r = 1.0 / r;
    } else {
        r = exp_acc(y * log_acc(ax));
    }
    return sign_bit(x) && yodd ? -r : r;
}

// C's fmod, exact for quotients below 2^24 (fma residual).
float fmod_acc(float a, float b)
{
    if (isnan(a) || isnan(b) || isinf(a) || b == 0.0) return F_NAN;
    if (isinf(b)) return a;
    float A = abs(a), B = abs(b);
    if (A < B) return a;
    float q = trunc(A / B), ph, pl;
    two_prod(q, B, ph, pl);
    precise float r = (A - ph) - pl;                 // exact when representable
    if (r < 0.0) r += B;
    if (r >= B) r -= B;
    return copy_sign(r, a);
}

// Python's remainder on floats (sign of the divisor), as remainder_f64.
float remainder_acc(float a, float b)
{
    float r = fmod_acc(a, b);
    if (r != 0.0) {
        if ((r < 0.0) != (b < 0.0)) r += b;
    } else {
        r = copy_sign(0.0, b);
    }
    return r;
}

// floor(a / b) with the exact quotient (the CPU's double division is exact
// enough that its floor is the true one).
float floor_div_acc(float a, float b)
{
    if (b == 0.0 || isnan(a) || isnan(b) || isinf(a) || isinf(b)) return floor(a / b);
    float q = a / b;
    if (abs(q) >= 8388608.0) return floor(q);
    float r = fmod_acc(a, b);
    float t = (a - r) / b;                           // an exact integer
    t = roundEven(t);
    if (r != 0.0 && ((r < 0.0) != (b < 0.0))) t -= 1.0;
    return t;
}

// asin(x) for |x| <= 0.5: Taylor series, coefficients C(2n,n) / (4^n (2n+1)),
// n <= 10 (truncation < 1e-8 relative).
float asin_small(float x)
{
    float z = x * x;
    float p = 46189.0 / 5505024.0;
    p = fma(p, z, 12155.0 / 1245184.0);
    p = fma(p, z, 6435.0 / 557056.0);
    p = fma(p, z, 143.0 / 10240.0);
    p = fma(p, z, 231.0 / 13312.0);
    p = fma(p, z, 63.0 / 2816.0);
    p = fma(p, z, 35.0 / 1152.0);
    p = fma(p, z, 5.0 / 112.0);
    p = fma(p, z, 3.0 / 40.0);
    p = fma(p, z, 1.0 / 6.0);
    return fma(x * z, p, x);
}

const float HALF_PI = 1.5707963267948966;
const float PI_F = 3.1415926535897932;

// GLSL's asin/acos/atan carry no precision guarantee (lavapipe's are off by
// ~3e-5): argument reduction to |x| <= 0.5 (asin) or tan(pi/12) (atan).
float asin_acc(float x)
{
    float a = abs(x);
    if (!(a <= 1.0)) return F_NAN;
    if (a <= 0.5) return asin_small(x);
    float r = HALF_PI - 2.0 * asin_small(sqrt(0.5 * (1.0 - a)));
    return x < 0.0 ? -r : r;
}

float acos_acc(float x)
{
    float a = abs(x);
    if (!(a <= 1.0)) return F_NAN;
    if (a <= 0.5) return HALF_PI - asin_small(x);
    float r = 2.0 * asin_small(sqrt(0.5 * (1.0 - a)));
    return x < 0.0 ? PI_F - r : r;
}

float atan_acc(float x)
{
    if (isnan(x)) return x;
    float a = abs(x), base = 0.0;
    bool inv = a > 1.0;
    if (inv) a = 1.0 / a;                            // atan(a) = pi/2 - atan(1/a)
    if (a > 0.26794919) {                            // tan(pi/12)
        a = (a * 1.7320508 - 1.0) / (a + 1.7320508); // atan(a) = pi/6 + atan(..)
        base = 0.52359878;
    }
    float z = a * a;
    float p = 1.0 / 15.0;
    p = fma(p, z, -1.0 / 13.0);
    p = fma(p, z, 1.0 / 11.0);
    p = fma(p, z, -1.0 / 9.0);
    p = fma(p, z, 1.0 / 7.0);
    p = fma(p, z, -1.0 / 5.0);
    p = fma(p, z, 1.0 / 3.0);
    float r = base + fma(-a * z, p, a);
    if (inv) r = HALF_PI - r;
    return x < 0.0 ? -r : r;
}

float atan2_acc(float y, float x)
{
    const float PI = 3.14159265358979;
    if (isnan(x) || isnan(y)) return x + y;
    if (y == 0.0) {
        if (sign_bit(x)) return copy_sign(PI, y);
        return y;                                    // +-0 with y's sign
    }
    if (isinf(x) && isinf(y)) {
        float r = x > 0.0 ? 0.25 * PI : 0.75 * PI;
        return copy_sign(r, y);
    }
    if (x == 0.0 || isinf(y)) return copy_sign(0.5 * PI, y);
    if (isinf(x)) return x > 0.0 ? copy_sign(0.0, y) : copy_sign(PI, y);
    // atan(y / x) corrected by the quadrant; the quotient's rounding error
    // stays below an ulp of the result
    float r = atan_acc(abs(y) / abs(x));
    if (x < 0.0) r = PI - r;
    return copy_sign(r, y);
}
