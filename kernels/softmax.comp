#version 450
// softmax.comp -- softmax, log_softmax along one axis, stable (the maximum
// is subtracted), in float32 (core/vk_kernels_reduce.c).
//
// Lines are laid out as in scan.comp. As on the CPU: a NaN in the line makes
// the maximum NaN (so the whole line is NaN); an infinite maximum is replaced
// by 0 when it is -inf (all -inf: exp gives 0, the sum is 0).
//   MODE_GROUP:  one workgroup per line: maximum, sum of exp, write. When the
//                line fits in VPT values per invocation it is read once and
//                kept in registers; otherwise it is read three times.
//                Workgroup combinations use subgroup ops where SUBGROUP.
//   MODE_THREAD: one invocation per line, three serial passes.
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#include "common.glsl"

#define MODE_GROUP 0
#define MODE_THREAD 1
#define VPT 8                                   // values cached per invocation

layout(constant_id = 1) const bool LOG = false;
layout(constant_id = 2) const int XDT = DT_FLOAT32;
layout(constant_id = 3) const int ODT = DT_FLOAT32;
layout(constant_id = 4) const bool SUBGROUP = false;
layout(constant_id = 5) const int MODE = MODE_GROUP;

// Mirrors vk_line_params in core/vk_kernels_reduce.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst;
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    int64_t nlines, n, xstride, inner;
    int kn, reverse;
};

shared float part[gl_WorkGroupSize.x];

#define NEG_INF uintBitsToFloat(0xff800000u)
#define QNAN uintBitsToFloat(0x7fc00000u)

// The CPU's running maximum: the first NaN sticks.
float max_nan(float m, float v) { return (v > m || isnan(v)) && !isnan(m) ? v : m; }

// Workgroup maximum (NaN-propagating) or sum; every invocation calls it.
float combine_group(float v, bool is_max)
{
    uint lid = gl_LocalInvocationID.x;
    uint count = gl_WorkGroupSize.x;
    if (SUBGROUP) {
        if (is_max) {
            bool nan = subgroupAny(isnan(v));
            v = nan ? QNAN : subgroupMax(isnan(v) ? NEG_INF : v);
        } else {
            v = subgroupAdd(v);
        }
        if (subgroupElect()) part[gl_SubgroupID] = v;
        lid = gl_SubgroupID;
        count = gl_NumSubgroups;
    } else {
        part[lid] = v;
    }
    barrier();
    for (uint s = count / 2u; s > 0u; s >>= 1u) {
        if (lid < s && (!SUBGROUP || subgroupElect())) {
            part[lid] = is_max ? max_nan(part[lid], part[lid + s]) : part[lid] + part[lid + s];
        }
        barrier();
    }
    float r = part[0];
    barrier();                                  // part is reused by the next call
    return r;
}

// The shift subtracted before exp: the maximum, with -inf replaced by 0.
float shift_of(float m) { return (isinf(m) && m < 0.0) ? 0.0 : m; }

// q = a / b, r = a % b; in 32 bits where both fit: faster, and NVIDIA's
// driver 580.159.04 (H200) computed the non-uniform 64-bit pair wrongly in
// reduce.comp's invocation-per-output mode.
void divmod(uint64_t a, uint64_t b, out uint64_t q, out uint64_t r)
{
    if (a <= 0xfffffffful && b <= 0xfffffffful) {
        q = uint64_t(uint(a) / uint(b));
        r = uint64_t(uint(a) % uint(b));
    } else {
        q = a / b;
        r = a - q * b;
    }
}

void main()
{
    Params p = Params(pc.params);
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        kshape[d] = p.kshape[d];
        kstride[d] = p.kstride[d];
    }
    bool group = MODE == MODE_GROUP;
    uint64_t line = group ? uint64_t(gl_WorkGroupID.x) +
                                uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x)
                          : linear_id();
    if (line >= uint64_t(p.nlines)) return;     // uniform in MODE_GROUP
    int64_t n = p.n, inner = p.inner, xs = p.xstride;
    int64_t xbase = strided_offset(line, p.kn, kshape, kstride);
    uint64_t outer, within;
    divmod(line, uint64_t(inner), outer, within);
    int64_t obase = int64_t(outer) * n * inner + int64_t(within);

    if (!group) {
        float m = NEG_INF;
        for (int64_t j = 0l; j < n; j++) m = max_nan(m, load_f(p.x, XDT, xbase + j * xs));
        m = shift_of(m);
        float s = 0.0;
        for (int64_t j = 0l; j < n; j++) s += exp(load_f(p.x, XDT, xbase + j * xs) - m);
        float shift = m + log(s), inv = 1.0 / s;
        for (int64_t j = 0l; j < n; j++) {
            float v = load_f(p.x, XDT, xbase + j * xs);
            store_f(p.dst, ODT, obase + j * inner, LOG ? v - shift : exp(v - m) * inv);
        }
        return;
    }

    int64_t wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    bool cached = n <= wg * VPT;
    float vals[VPT];
    float m = NEG_INF;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            vals[k] = j < n ? load_f(p.x, XDT, xbase + j * xs) : NEG_INF;
            m = max_nan(m, vals[k]);
        }
    } else {
        for (int64_t j = lid; j < n; j += wg) m = max_nan(m, load_f(p.x, XDT, xbase + j * xs));
    }
    m = shift_of(combine_group(m, true));
    float s = 0.0;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            if (lid + k * wg < n) {
                vals[k] = LOG ? vals[k] : exp(vals[k] - m);
                s += LOG ? exp(vals[k] - m) : vals[k];
            }
        }
    } else {
        for (int64_t j = lid; j < n; j += wg) s += exp(load_f(p.x, XDT, xbase + j * xs) - m);
    }
    s = combine_group(s, false);
    float shift = m + log(s), inv = 1.0 / s;
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t j = lid + k * wg;
            float v = LOG ? vals[k] - shift : vals[k] * inv;
            if (j < n) store_f(p.dst, ODT, obase + j * inner, v);
        }
    } else {
        for (int64_t j = lid; j < n; j += wg) {
            float v = load_f(p.x, XDT, xbase + j * xs);
            store_f(p.dst, ODT, obase + j * inner, LOG ? v - shift : exp(v - m) * inv);
        }
    }
}
