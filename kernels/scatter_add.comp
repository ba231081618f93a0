#version 450
// scatter_add.comp -- out[c with axis := idx[c]] += src[c] for every
// coordinate c of idx, after the host has copied a into out (concatenate
// kernel). Deterministic without atomics: two coordinates of idx that hit
// the same element of out differ only along the axis, so one invocation per
// non-axis coordinate of idx walks the axis in order, which is also the
// CPU's (row-major) order of additions. Floats add in float (exact match
// with the CPU's double add + rounding for float32/16/bfloat16), integers
// in wrapping int64. Out-of-range indices are reported as on the CPU.
#include "common.glsl"
#include "elem_copy.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst, idx, src, status;
    int64_t n;                  // invocations: idx's size / idx's axis length
    int64_t len;                // idx's length along the axis
    int64_t dim;                // out's size along the axis
    int64_t shape[MAX_DIMS];    // idx's shape with the axis set to 1
    int64_t idx_strides[MAX_DIMS];
    int64_t src_strides[MAX_DIMS];
    int64_t out_strides[MAX_DIMS];
    int ndim, axis, dtype, idx_dtype, base;
    uint op;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    uint64_t rem = id;
    int64_t io = 0, so = 0, oo = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
        uint64_t s = uint64_t(p.shape[d]);
        int64_t c = int64_t(rem % s);
        rem /= s;
        io += c * p.idx_strides[d];
        so += c * p.src_strides[d];
        oo += c * p.out_strides[d];
    }
    int ax = p.axis;
    int64_t is = p.idx_strides[ax], ss = p.src_strides[ax], os = p.out_strides[ax];
    bool fmode = dt_is_float(p.dtype);
    for (int64_t t = 0; t < p.len; t++) {
        int64_t v = load_i(p.idx, p.idx_dtype, io + t * is);
        int64_t j = resolve_index(v, p.base, p.dim);
        if (j < 0l) {
            report_index_error(p.status, p.op, v, ax + p.base, p.dim);
            return;
        }
        int64_t e = oo + j * os, s = so + t * ss;
        if (fmode) {
            store_f(p.dst, p.dtype, e, load_f(p.dst, p.dtype, e) + load_f(p.src, p.dtype, s));
        } else {
            store_i(p.dst, p.dtype, e, load_i(p.dst, p.dtype, e) + load_i(p.src, p.dtype, s));
        }
    }
}
