/*
 * dtype.c -- dtype names, sizes, promotion, half-precision conversions and
 * the generic element load/store used by kernels that are not specialised.
 */
#include "internal.h"

#include <math.h>
#include <string.h>

static const char *const dtype_names[TY_DTYPE_COUNT] = {
    "bool", "uint8", "int32", "int64", "float16", "bfloat16", "float32", "float64",
};

static const size_t dtype_sizes[TY_DTYPE_COUNT] = {1, 1, 4, 8, 2, 2, 4, 8};

_Static_assert(TY_DTYPE_COUNT == 8, "update the dtype tables");

const char *ty_dtype_name(ty_dtype dtype)
{
    if ((unsigned)dtype >= TY_DTYPE_COUNT) return "unknown";
    return dtype_names[dtype];
}

static const struct {
    const char *name;
    ty_dtype dtype;
} dtype_aliases[] = {
    {"float32", TY_FLOAT32}, {"f32", TY_FLOAT32},    {"float", TY_FLOAT32},
    {"float16", TY_FLOAT16}, {"f16", TY_FLOAT16},    {"half", TY_FLOAT16},
    {"bfloat16", TY_BFLOAT16}, {"bf16", TY_BFLOAT16},
    {"int32", TY_INT32},     {"i32", TY_INT32},      {"int", TY_INT32},
    {"int64", TY_INT64},     {"i64", TY_INT64},      {"long", TY_INT64},
    {"uint8", TY_UINT8},     {"u8", TY_UINT8},       {"byte", TY_UINT8},
    {"bool", TY_BOOL},
    {"float64", TY_FLOAT64}, {"f64", TY_FLOAT64},    {"double", TY_FLOAT64},
};

/* Parses a dtype name or alias into *out; -1 + error when unknown. */
int ty_dtype_from_name(const char *name, ty_dtype *out)
{
    if (!name) return ty__error("[dtype] no dtype name given");
    for (size_t i = 0; i < sizeof dtype_aliases / sizeof dtype_aliases[0]; i++) {
        if (strcmp(name, dtype_aliases[i].name) == 0) {
            if (out) *out = dtype_aliases[i].dtype;
            return 0;
        }
    }
    return ty__error("[dtype] unknown dtype '%s'", name);
}

size_t ty_dtype_size(ty_dtype dtype)
{
    if ((unsigned)dtype >= TY_DTYPE_COUNT) return 0;
    return dtype_sizes[dtype];
}

bool ty_dtype_is_float(ty_dtype dtype)
{
    return dtype == TY_FLOAT16 || dtype == TY_BFLOAT16 || dtype == TY_FLOAT32 ||
           dtype == TY_FLOAT64;
}

bool ty_dtype_is_integer(ty_dtype dtype)
{
    return dtype == TY_UINT8 || dtype == TY_INT32 || dtype == TY_INT64;
}

/* MLX promotion: the higher rank wins (any float beats any integer);
 * float16 with bfloat16 meets at float32. */
ty_dtype ty_promote(ty_dtype a, ty_dtype b)
{
    if (a == b) return a;
    if ((a == TY_FLOAT16 && b == TY_BFLOAT16) || (a == TY_BFLOAT16 && b == TY_FLOAT16))
        return TY_FLOAT32;
    return a > b ? a : b;
}

/* ---------------------------------------------------------------- half */

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

float ty_half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = (float)mant * 5.9604644775390625e-8f;
        return sign ? -v : v;
    }
    if (exp == 31) return bits_float(sign | 0x7f800000u | (mant << 13));
    return bits_float(sign | ((exp + 112) << 23) | (mant << 13));
}

/* Rounds to nearest even; overflow gives inf, NaN stays a (quiet) NaN. */
uint16_t ty_float_to_half(float f)
{
    uint32_t x = float_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t abs = x & 0x7fffffffu;
    if (abs >= 0x7f800000u) {
        if (abs == 0x7f800000u) return sign | 0x7c00;
        return (uint16_t)(sign | 0x7e00 | ((abs >> 13) & 0x3ff));
    }
    if (abs >= 0x47800000u) return sign | 0x7c00;    /* >= 65536: inf */
    if (abs < 0x38800000u) {                         /* below 2^-14: subnormal */
        if (abs < 0x33000000u) return sign;          /* <= 2^-25: rounds to 0 */
        uint32_t e = abs >> 23;
        uint32_t m = (abs & 0x7fffffu) | 0x800000u;
        uint32_t shift = 126 - e;                    /* 14 .. 24 */
        uint32_t h = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1))) h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = (abs >> 13) - (112u << 10);
    uint32_t rem = abs & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;  /* may carry to inf */
    return (uint16_t)(sign | h);
}

float ty_bfloat_to_float(uint16_t b)
{
    return bits_float((uint32_t)b << 16);
}

uint16_t ty_float_to_bfloat(float f)
{
    uint32_t x = float_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    x += 0x7fffu + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* double -> float rounded to odd: a later rounding to a narrower format
 * (half, bfloat) then equals a direct correctly rounded conversion. */
static float double_to_float_odd(double v)
{
    float f = (float)v;
    if (isnan(v) || (double)f == v) return f;
    uint32_t u = float_bits(f);
    if (fabs((double)f) > fabs(v)) u--;              /* step toward zero */
    return bits_float(u | 1);
}

/* ---------------------------------------------------------------- load/store */

double ty__load_f64(const void *data, ty_dtype dtype, int64_t i)
{
    switch (dtype) {
    case TY_BOOL: return ((const uint8_t *)data)[i] != 0;
    case TY_UINT8: return ((const uint8_t *)data)[i];
    case TY_INT32: return ((const int32_t *)data)[i];
    case TY_INT64: return (double)((const int64_t *)data)[i];
    case TY_FLOAT16: return ty_half_to_float(((const uint16_t *)data)[i]);
    case TY_BFLOAT16: return ty_bfloat_to_float(((const uint16_t *)data)[i]);
    case TY_FLOAT32: return ((const float *)data)[i];
    case TY_FLOAT64: return ((const double *)data)[i];
    case TY_DTYPE_COUNT: break;
    }
    return 0;
}

/* Float to int64: NaN -> 0, truncation toward zero, saturation. */
static int64_t f64_to_i64_sat(double v)
{
    if (isnan(v)) return 0;
    if (v >= 9223372036854775808.0) return INT64_MAX;
    if (v <= -9223372036854775808.0) return INT64_MIN;
    return (int64_t)v;
}

int64_t ty__load_i64(const void *data, ty_dtype dtype, int64_t i)
{
    switch (dtype) {
    case TY_BOOL: return ((const uint8_t *)data)[i] != 0;
    case TY_UINT8: return ((const uint8_t *)data)[i];
    case TY_INT32: return ((const int32_t *)data)[i];
    case TY_INT64: return ((const int64_t *)data)[i];
    case TY_FLOAT16:
    case TY_BFLOAT16:
    case TY_FLOAT32:
    case TY_FLOAT64: return f64_to_i64_sat(ty__load_f64(data, dtype, i));
    case TY_DTYPE_COUNT: break;
    }
    return 0;
}

void ty__store_f64(void *data, ty_dtype dtype, int64_t i, double v)
{
    switch (dtype) {
    case TY_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    case TY_UINT8:
        ((uint8_t *)data)[i] = isnan(v) ? 0 : v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)v;
        break;
    case TY_INT32:
        ((int32_t *)data)[i] = isnan(v) ? 0 : v <= INT32_MIN ? INT32_MIN
                               : v >= INT32_MAX ? INT32_MAX : (int32_t)v;
        break;
    case TY_INT64: ((int64_t *)data)[i] = f64_to_i64_sat(v); break;
    case TY_FLOAT16:
        ((uint16_t *)data)[i] = ty_float_to_half(double_to_float_odd(v));
        break;
    case TY_BFLOAT16:
        ((uint16_t *)data)[i] = ty_float_to_bfloat(double_to_float_odd(v));
        break;
    case TY_FLOAT32: ((float *)data)[i] = (float)v; break;
    case TY_FLOAT64: ((double *)data)[i] = v; break;
    case TY_DTYPE_COUNT: break;
    }
}

/* Integer targets wrap (two's complement), as a C/NumPy cast does. */
void ty__store_i64(void *data, ty_dtype dtype, int64_t i, int64_t v)
{
    switch (dtype) {
    case TY_BOOL: ((uint8_t *)data)[i] = v != 0; break;
    case TY_UINT8: ((uint8_t *)data)[i] = (uint8_t)v; break;
    case TY_INT32: ((int32_t *)data)[i] = (int32_t)(uint32_t)v; break;
    case TY_INT64: ((int64_t *)data)[i] = v; break;
    case TY_FLOAT16:
    case TY_BFLOAT16:
    case TY_FLOAT32:
    case TY_FLOAT64: ty__store_f64(data, dtype, i, (double)v); break;
    case TY_DTYPE_COUNT: break;
    }
}
