#version 450
// scan.comp -- inclusive cumsum, cumprod along one axis, optionally from the
// end (core/vk_kernels_reduce.c).
//
// Line L (row-major over the dims other than the axis) starts in x at
// strided_offset(L, kept) and steps by xstride; in the contiguous output it
// starts at (L / inner) * n * inner + L % inner and steps by inner.
//   MODE_GROUP:  one workgroup per line; the line is scanned in chunks of
//                the workgroup size (one element per invocation): a subgroup
//                scan and a scan of the subgroup totals (SUBGROUP, floats),
//                or a shared-memory Hillis-Steele scan, plus the running
//                total of the previous chunks.
//   MODE_THREAD: one invocation per line, serial (short lines, or many lines
//                whose neighbours are neighbours in memory).
// FMODE accumulates in float32, otherwise in int64 (wrapping).
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "common.glsl"

#define MODE_GROUP 0
#define MODE_THREAD 1

layout(constant_id = 1) const bool PROD = false;
layout(constant_id = 2) const bool FMODE = true;
layout(constant_id = 3) const int XDT = DT_FLOAT32;
layout(constant_id = 4) const int ODT = DT_FLOAT32;
layout(constant_id = 5) const bool SUBGROUP = false;
layout(constant_id = 6) const int MODE = MODE_GROUP;

// Mirrors vk_line_params in core/vk_kernels_reduce.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t x, dst;
    int64_t kshape[MAX_DIMS], kstride[MAX_DIMS];
    int64_t nlines, n, xstride, inner;
    int kn, reverse;
};

shared float scan_f[gl_WorkGroupSize.x];
shared int64_t scan_i[gl_WorkGroupSize.x];

float f_op(float a, float b) { return PROD ? a * b : a + b; }
int64_t i_op(int64_t a, int64_t b) { return PROD ? a * b : a + b; }

// Inclusive scan of v over the workgroup; total gets the workgroup's total.
float f_scan(float v, out float total)
{
    uint lid = gl_LocalInvocationID.x;
    float id = PROD ? 1.0 : 0.0;
    if (SUBGROUP) {
        v = PROD ? subgroupInclusiveMul(v) : subgroupInclusiveAdd(v);
        if (gl_SubgroupInvocationID == gl_SubgroupSize - 1u) scan_f[gl_SubgroupID] = v;
        barrier();
        float before = id;
        total = id;
        for (uint k = 0u; k < gl_NumSubgroups; k++) {
            if (k < gl_SubgroupID) before = f_op(before, scan_f[k]);
            total = f_op(total, scan_f[k]);
        }
        barrier();
        return f_op(before, v);
    }
    scan_f[lid] = v;
    barrier();
    for (uint d = 1u; d < gl_WorkGroupSize.x; d <<= 1u) {
        float left = lid >= d ? scan_f[lid - d] : id;
        barrier();
        scan_f[lid] = f_op(left, scan_f[lid]);
        barrier();
    }
    v = scan_f[lid];
    total = scan_f[gl_WorkGroupSize.x - 1u];
    barrier();
    return v;
}

int64_t i_scan(int64_t v, out int64_t total)
{
    uint lid = gl_LocalInvocationID.x;
    int64_t id = PROD ? 1l : 0l;
    scan_i[lid] = v;
    barrier();
    for (uint d = 1u; d < gl_WorkGroupSize.x; d <<= 1u) {
        int64_t left = lid >= d ? scan_i[lid - d] : id;
        barrier();
        scan_i[lid] = i_op(left, scan_i[lid]);
        barrier();
    }
    v = scan_i[lid];
    total = scan_i[gl_WorkGroupSize.x - 1u];
    barrier();
    return v;
}

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
    int64_t n = p.n, inner = p.inner;
    int64_t xbase = strided_offset(line, p.kn, kshape, kstride);
    uint64_t outer, within;
    divmod(line, uint64_t(inner), outer, within);
    int64_t obase = int64_t(outer) * n * inner + int64_t(within);
    // position q of the line: x at xbase + q * xs, dst at obase + q * inner;
    // in reverse, step j visits q = n - 1 - j.
    int64_t xs = p.xstride, os = inner;
    if (p.reverse != 0) {
        xbase += (n - 1l) * xs;
        obase += (n - 1l) * os;
        xs = -xs;
        os = -os;
    }
    float fcarry = PROD ? 1.0 : 0.0;
    int64_t icarry = PROD ? 1l : 0l;
    if (!group) {
        for (int64_t j = 0l; j < n; j++) {
            if (FMODE) {
                fcarry = f_op(fcarry, load_f(p.x, XDT, xbase + j * xs));
                store_f(p.dst, ODT, obase + j * os, fcarry);
            } else {
                icarry = i_op(icarry, load_i(p.x, XDT, xbase + j * xs));
                store_i(p.dst, ODT, obase + j * os, icarry);
            }
        }
        return;
    }
    int64_t wg = int64_t(gl_WorkGroupSize.x);
    for (int64_t c = 0l; c < n; c += wg) {
        int64_t j = c + int64_t(gl_LocalInvocationID.x);
        bool live = j < n;
        if (FMODE) {
            float v = live ? load_f(p.x, XDT, xbase + j * xs) : (PROD ? 1.0 : 0.0);
            float total;
            v = f_op(fcarry, f_scan(v, total));
            if (live) store_f(p.dst, ODT, obase + j * os, v);
            fcarry = f_op(fcarry, total);
        } else {
            int64_t v = live ? load_i(p.x, XDT, xbase + j * xs) : (PROD ? 1l : 0l);
            int64_t total;
            v = i_op(icarry, i_scan(v, total));
            if (live) store_i(p.dst, ODT, obase + j * os, v);
            icarry = i_op(icarry, total);
        }
    }
}
