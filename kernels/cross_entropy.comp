#version 450
// cross_entropy.comp -- softmax_cross_entropy: per row -log_softmax(x)[label]
// (core/vk_kernels_nn.c), in float32. Rows may be strided; the output is
// contiguous (one value per row). A label outside [base, base + C) that is
// not ignore_index is reported through the status block (as take does) and
// the row gets 0.
//   MODE_GROUP:  one workgroup per row (long rows), combined with subgroup
//                ops where SUBGROUP, else a shared-memory tree; a row of at
//                most VPT values per invocation is read once (registers).
//   MODE_THREAD: one invocation per row (short rows).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#extension GL_KHR_shader_subgroup_vote : require
#include "common.glsl"

#define MODE_GROUP 0
#define MODE_THREAD 1
#define VPT 8                                   // values kept per invocation

layout(constant_id = 1) const int XDT = DT_FLOAT32;
layout(constant_id = 2) const int LDT = DT_INT32;
layout(constant_id = 3) const int ODT = DT_FLOAT32;
layout(constant_id = 4) const bool SUBGROUP = false;
layout(constant_id = 5) const int MODE = MODE_GROUP;

// Mirrors ce_params in core/vk_kernels_nn.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, lab, dst, status;
    int64_t bshape[MAX_DIMS], xbs[MAX_DIMS], lbs[MAX_DIMS];
    int64_t nrows, ncls, cs, ignore;
    int kn, base, has_ignore, axis_reported;
    uint op;
    int pad;
};

shared float part[gl_WorkGroupSize.x];

#define NEG_INF uintBitsToFloat(0xff800000u)
#define QNAN uintBitsToFloat(0x7fc00000u)

float max_nan(float m, float v) { return (v > m || isnan(v)) && !isnan(m) ? v : m; }

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
        if (lid < s && (!SUBGROUP || subgroupElect()))
            part[lid] = is_max ? max_nan(part[lid], part[lid + s]) : part[lid] + part[lid + s];
        barrier();
    }
    float r = part[0];
    barrier();
    return r;
}

void main()
{
    Params p = Params(pc.params);
    bool group = MODE == MODE_GROUP;
    uint64_t row = group ? uint64_t(gl_WorkGroupID.x) +
                               uint64_t(gl_WorkGroupID.y) * uint64_t(gl_NumWorkGroups.x)
                         : linear_id();
    if (row >= uint64_t(p.nrows)) return;     // uniform in MODE_GROUP
    int64_t bshape[MAX_DIMS], xbs[MAX_DIMS], lbs[MAX_DIMS];
    for (int d = 0; d < MAX_DIMS; d++) {
        bshape[d] = p.bshape[d]; xbs[d] = p.xbs[d]; lbs[d] = p.lbs[d];
    }
    int64_t xb = strided_offset(row, p.kn, bshape, xbs);
    int64_t lb = strided_offset(row, p.kn, bshape, lbs);
    int64_t raw = load_i(p.lab, LDT, lb);
    int64_t n = p.ncls, cs = p.cs;
    bool ignored = p.has_ignore != 0 && raw == p.ignore;
    int64_t j = raw - int64_t(p.base);
    bool bad = !ignored && (j < 0l || j >= n);
    if (ignored || bad) {                      // uniform in MODE_GROUP
        if (bad && (!group || gl_LocalInvocationID.x == 0u))
            report_index_error(p.status, p.op, raw, p.axis_reported, n);
        if (!group || gl_LocalInvocationID.x == 0u) store_f(p.dst, ODT, int64_t(row), 0.0);
        return;
    }
    float m = NEG_INF, s = 0.0;
    if (!group) {
        for (int64_t c = 0l; c < n; c++) m = max_nan(m, load_f(p.x, XDT, xb + c * cs));
        float shift = isinf(m) ? 0.0 : m;
        for (int64_t c = 0l; c < n; c++) s += exp(load_f(p.x, XDT, xb + c * cs) - shift);
        store_f(p.dst, ODT, int64_t(row), log(s) + shift - load_f(p.x, XDT, xb + j * cs));
        return;
    }
    int64_t wg = int64_t(gl_WorkGroupSize.x), lid = int64_t(gl_LocalInvocationID.x);
    bool cached = n <= wg * VPT;
    float vals[VPT];
    if (cached) {
        for (int k = 0; k < VPT; k++) {
            int64_t c = lid + k * wg;
            vals[k] = c < n ? load_f(p.x, XDT, xb + c * cs) : NEG_INF;
            m = max_nan(m, vals[k]);
        }
    } else {
        for (int64_t c = lid; c < n; c += wg) m = max_nan(m, load_f(p.x, XDT, xb + c * cs));
    }
    m = combine_group(m, true);
    float shift = isinf(m) ? 0.0 : m;
    if (cached) {
        for (int k = 0; k < VPT; k++)
            if (lid + k * wg < n) s += exp(vals[k] - shift);
    } else {
        for (int64_t c = lid; c < n; c += wg) s += exp(load_f(p.x, XDT, xb + c * cs) - shift);
    }
    s = combine_group(s, false);
    if (lid == 0l) store_f(p.dst, ODT, int64_t(row), log(s) + shift - load_f(p.x, XDT, xb + j * cs));
}
