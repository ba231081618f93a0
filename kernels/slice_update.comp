#version 450
// slice_update.comp -- out (contiguous) = a, with the region
// start:stop:step (per axis) replaced by v (broadcast to the region's shape,
// with 0 strides, by the op constructor). One pass, one invocation per
// element of out: it copies from v when its coordinate lies in the region,
// from a otherwise.
#include "common.glsl"
#include "elem_copy.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst, a, v;
    int64_t n;                  // elements of out
    int64_t shape[MAX_DIMS];    // out's shape (= a's)
    int64_t a_strides[MAX_DIMS];
    int64_t v_shape[MAX_DIMS];  // the region's shape
    int64_t v_strides[MAX_DIMS];
    int64_t start[MAX_DIMS];
    int64_t step[MAX_DIMS];     // nonzero, may be negative
    int ndim, esize;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    uint64_t rem = id;
    int64_t ao = 0, vo = 0;
    bool inside = true;
    for (int d = p.ndim - 1; d >= 0; d--) {
        uint64_t s = uint64_t(p.shape[d]);
        int64_t c = int64_t(rem % s);
        rem /= s;
        ao += c * p.a_strides[d];
        int64_t off = c - p.start[d], st = p.step[d];
        // position along the region: off / st when it divides exactly
        int64_t q = st > 0l ? off / st : (-off) / (-st);
        inside = inside && (st > 0l ? off >= 0l : off <= 0l) && q * st == off &&
                 q < p.v_shape[d];
        vo += q * p.v_strides[d];
    }
    if (inside) copy_elem(p.dst, int64_t(id), p.v, vo, p.esize);
    else copy_elem(p.dst, int64_t(id), p.a, ao, p.esize);
}
