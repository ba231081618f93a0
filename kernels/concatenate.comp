#version 450
// concatenate.comp -- strided copy of one array into a region of another:
// dst[dst_offset(c)] = src[src_offset(c)] for every coordinate c of `shape`.
// The host dispatches it once per input of concatenate (dst = the input's
// slab of out), and for the `out = a` step of scatter_add. One invocation
// per element; bit copies of esize bytes (inputs already have out's dtype).
#include "common.glsl"
#include "elem_copy.glsl"

layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t dst, src;          // dst includes the slab's offset
    int64_t n;                  // elements to copy
    int64_t shape[MAX_DIMS];
    int64_t src_strides[MAX_DIMS];
    int64_t dst_strides[MAX_DIMS];
    int ndim, esize;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    uint64_t rem = id;
    int64_t so = 0, d_o = 0;
    for (int d = p.ndim - 1; d >= 0; d--) {
        uint64_t s = uint64_t(p.shape[d]);
        int64_t c = int64_t(rem % s);
        rem /= s;
        so += c * p.src_strides[d];
        d_o += c * p.dst_strides[d];
    }
    copy_elem(p.dst, d_o, p.src, so, p.esize);
}
