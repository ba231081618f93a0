#version 450
// pad.comp -- out (contiguous) = a surrounded by `before` elements of fill
// on each axis (the width after is implied by out's shape). One invocation
// per element of out: inside a's region it copies, outside it stores the
// fill value, whose bits the host encodes with the CPU's conversion.
#include "common.glsl"
#include "elem_copy.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst, a;
    int64_t n;                  // elements of out
    int64_t fill;               // raw bits of the fill value in out's dtype
    int64_t shape[MAX_DIMS];    // out's shape
    int64_t a_shape[MAX_DIMS];
    int64_t a_strides[MAX_DIMS];
    int64_t before[MAX_DIMS];
    int ndim, esize;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    uint64_t rem = id;
    int64_t ao = 0;
    bool inside = true;
    for (int d = p.ndim - 1; d >= 0; d--) {
        uint64_t s = uint64_t(p.shape[d]);
        int64_t c = int64_t(rem % s) - p.before[d];
        rem /= s;
        inside = inside && c >= 0l && c < p.a_shape[d];
        ao += c * p.a_strides[d];
    }
    if (inside) copy_elem(p.dst, int64_t(id), p.a, ao, p.esize);
    else store_bits(p.dst, int64_t(id), p.esize, p.fill);
}
