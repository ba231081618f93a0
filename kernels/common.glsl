// common.glsl -- shared by every kernel: typed views of device addresses,
// dtype load/store with the CPU's conversion rules, N-d strided indexing,
// the invocation id over a 2-D grid, and error reporting.
//
// A kernel declares its parameter block as a buffer_reference struct that
// mirrors a C struct in core/vk_kernels_*.c, and reads it through
// PARAMS(Type): `Params p = Params(pc.params);`.

#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
#extension GL_EXT_shader_8bit_storage : require
#extension GL_EXT_shader_16bit_storage : require

// Workgroup size: specialization constant 0 (set by vk_dispatch).
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

layout(push_constant) uniform Push { uint64_t params; } pc;

// dtype codes: the values of ty_dtype in core/tycho.h
#define DT_BOOL 0
#define DT_UINT8 1
#define DT_INT32 2
#define DT_INT64 3
#define DT_FLOAT16 4
#define DT_BFLOAT16 5
#define DT_FLOAT32 6

#define MAX_DIMS 8

layout(buffer_reference, std430, buffer_reference_align = 1) buffer BufU8 { uint8_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufU16 { uint16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 2) buffer BufF16 { float16_t v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufI32 { int v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufU32 { uint v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer BufF32 { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 8) buffer BufI64 { int64_t v[]; };

bool dt_is_float(int dt) { return dt >= DT_FLOAT16; }

float bf16_to_float(uint16_t b) { return uintBitsToFloat(uint(b) << 16); }

uint16_t float_to_bf16(float f)
{
    uint bits = floatBitsToUint(f);
    if (isnan(f)) return uint16_t(0x7fc0u | ((bits >> 16) & 0x8000u));
    bits += 0x7fffu + ((bits >> 16) & 1u);     // round to nearest even
    return uint16_t(bits >> 16);
}

// Element i (in elements from addr, may be negative) as float. Addresses are
// computed in 64 bits, so offsets of any sign and size work.
float load_f(uint64_t addr, int dt, int64_t i)
{
    switch (dt) {
    case DT_BOOL: return BufU8(addr + uint64_t(i * 1l)).v[0] != uint8_t(0) ? 1.0 : 0.0;
    case DT_UINT8: return float(BufU8(addr + uint64_t(i * 1l)).v[0]);
    case DT_INT32: return float(BufI32(addr + uint64_t(i * 4l)).v[0]);
    case DT_INT64: return float(BufI64(addr + uint64_t(i * 8l)).v[0]);
    case DT_FLOAT16: return float(BufF16(addr + uint64_t(i * 2l)).v[0]);
    case DT_BFLOAT16: return bf16_to_float(BufU16(addr + uint64_t(i * 2l)).v[0]);
    default: return BufF32(addr + uint64_t(i * 4l)).v[0];
    }
}

// Element i as int64 (floats truncate toward zero).
int64_t load_i(uint64_t addr, int dt, int64_t i)
{
    switch (dt) {
    case DT_BOOL: return BufU8(addr + uint64_t(i * 1l)).v[0] != uint8_t(0) ? 1l : 0l;
    case DT_UINT8: return int64_t(BufU8(addr + uint64_t(i * 1l)).v[0]);
    case DT_INT32: return int64_t(BufI32(addr + uint64_t(i * 4l)).v[0]);
    case DT_INT64: return BufI64(addr + uint64_t(i * 8l)).v[0];
    default: return int64_t(load_f(addr, dt, i));
    }
}

// float -> integer as on the CPU: NaN -> 0, truncate, saturate.
int64_t float_to_int_sat(float v, float lo, float hi)
{
    if (isnan(v)) return 0l;
    return int64_t(clamp(trunc(v), lo, hi));
}

void store_f(uint64_t addr, int dt, int64_t i, float v)
{
    switch (dt) {
    case DT_BOOL: BufU8(addr + uint64_t(i * 1l)).v[0] = uint8_t(v != 0.0 ? 1 : 0); break;
    case DT_UINT8: BufU8(addr + uint64_t(i * 1l)).v[0] = uint8_t(float_to_int_sat(v, 0.0, 255.0)); break;
    case DT_INT32:
        BufI32(addr + uint64_t(i * 4l)).v[0] = int(float_to_int_sat(v, -2147483648.0, 2147483520.0));
        break;
    case DT_INT64:
        BufI64(addr + uint64_t(i * 8l)).v[0] = float_to_int_sat(v, -9.2233720368547758e18, 9.2233714e18);
        break;
    case DT_FLOAT16: BufF16(addr + uint64_t(i * 2l)).v[0] = float16_t(v); break;
    case DT_BFLOAT16: BufU16(addr + uint64_t(i * 2l)).v[0] = float_to_bf16(v); break;
    default: BufF32(addr + uint64_t(i * 4l)).v[0] = v; break;
    }
}

// int64 -> dtype (narrower integers wrap, as a NumPy cast does).
void store_i(uint64_t addr, int dt, int64_t i, int64_t v)
{
    switch (dt) {
    case DT_BOOL: BufU8(addr + uint64_t(i * 1l)).v[0] = uint8_t(v != 0l ? 1 : 0); break;
    case DT_UINT8: BufU8(addr + uint64_t(i * 1l)).v[0] = uint8_t(v & 255l); break;
    case DT_INT32: BufI32(addr + uint64_t(i * 4l)).v[0] = int(v); break;
    case DT_INT64: BufI64(addr + uint64_t(i * 8l)).v[0] = v; break;
    default: store_f(addr, dt, i, float(v)); break;
    }
}

// The invocation's linear id over the 2-D grid of vk_grid().
uint64_t linear_id()
{
    return uint64_t(gl_GlobalInvocationID.x) +
           uint64_t(gl_GlobalInvocationID.y) * uint64_t(gl_NumWorkGroups.x) *
               uint64_t(gl_WorkGroupSize.x);
}

// Element offset of row-major position `linear` in an N-d array with the
// given shape and strides (in elements; strides may be 0 or negative).
// strided_offset over dims 0..last with 64-bit arithmetic.
int64_t strided_offset_wide(uint64_t linear, int last, int64_t shape[MAX_DIMS],
                            int64_t strides[MAX_DIMS])
{
    int64_t off = 0;
    for (int d = last; d >= 0; d--) {
        int64_t s = shape[d];
        int64_t c = int64_t(linear % uint64_t(s));
        linear /= uint64_t(s);
        off += c * strides[d];
    }
    return off;
}

int64_t strided_offset(uint64_t linear, int ndim, int64_t shape[MAX_DIMS],
                       int64_t strides[MAX_DIMS])
{
    int64_t off = 0;
    if (linear <= 0xffffffffUL) {
        // 32-bit division: faster, and 64-bit division of non-uniform values
        // has produced wrong results on an NVIDIA driver (580.159)
        uint l = uint(linear);
        for (int d = ndim - 1; d >= 0; d--) {
            if (shape[d] > 0xffffffffL)
                return off + strided_offset_wide(uint64_t(l), d, shape, strides);
            uint s = uint(shape[d]);
            off += int64_t(l % s) * strides[d];
            l /= s;
        }
        return off;
    }
    return strided_offset_wide(linear, ndim - 1, shape, strides);
}

// The status block (core/vk.h): the first reported error wins.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Status {
    uint flag;      // 0: no error
    uint op;        // ty_op of the failing node
    int axis;       // as reported (already in the op's index base)
    int pad;
    int64_t value;  // the offending index as given
    int64_t dim;    // the size of the axis
};

void report_index_error(uint64_t status, uint op, int64_t value, int axis, int64_t dim)
{
    Status s = Status(status);
    if (atomicCompSwap(s.flag, 0u, 1u) == 0u) {
        s.op = op;
        s.axis = axis;
        s.value = value;
        s.dim = dim;
    }
}
