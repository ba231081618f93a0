#version 450
// take.comp -- take (NumPy take along an axis) and take_along_axis (gather).
// One invocation per element of out (contiguous). The host expresses both
// ops through per-out-dimension strides:
//   a's element  = a + sum_d c[d] * a_strides[d] + j * axis_stride
//   idx element  = idx + sum_d c[d] * idx_strides[d]
// where c is out's coordinate and j the resolved index. For take, out's
// dims are a[:axis] + idx.shape + a[axis+1:] (a_strides 0 on idx's dims,
// idx_strides 0 elsewhere); for take_along_axis out has a's dims (a_strides
// 0 on the axis). Out-of-range indices are reported with the values the CPU
// reports (op, the index as given, axis + index_base, dim) and give 0.
#include "common.glsl"
#include "elem_copy.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst, a, idx, status;
    int64_t n;                  // elements of out
    int64_t axis_stride;        // a's stride along the axis
    int64_t dim;                // a's size along the axis
    int64_t shape[MAX_DIMS];    // out's shape
    int64_t a_strides[MAX_DIMS];
    int64_t idx_strides[MAX_DIMS];
    int ndim, esize, idx_dtype, base;
    uint op;                    // ty_op, for the error message
    int axis_reported;          // axis + index_base
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    uint64_t rem = id;
    int64_t ao = 0, io = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
        uint64_t s = uint64_t(p.shape[d]);
        int64_t c = int64_t(rem % s);
        rem /= s;
        ao += c * p.a_strides[d];
        io += c * p.idx_strides[d];
    }
    int64_t v = load_i(p.idx, p.idx_dtype, io);
    int64_t j = resolve_index(v, p.base, p.dim);
    if (j < 0l) {
        report_index_error(p.status, p.op, v, p.axis_reported, p.dim);
        store_bits(p.dst, int64_t(id), p.esize, 0l);
        return;
    }
    copy_elem(p.dst, int64_t(id), p.a, ao + j * p.axis_stride, p.esize);
}
