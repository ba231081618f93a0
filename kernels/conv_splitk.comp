#version 450
// conv_splitk.comp -- second pass of a split-K convolution (conv.comp):
// out[i] = sum over splits s (in order) of partial[s][i], stored in out's
// dtype. One invocation per output element.
#include "common.glsl"

layout(constant_id = 1) const int DT = DT_FLOAT32;

// Mirrors vk_splitk_params in core/vk_kernels_conv.c.
layout(buffer_reference, std430, buffer_reference_align = 8) buffer Params {
    uint64_t partial, dst;
    int64_t n;                  // output elements
    int nsplit, pad_;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t id = linear_id();
    if (id >= uint64_t(p.n)) return;
    float acc = 0.0;
    for (int s = 0; s < p.nsplit; s++)
        acc += BufF32(p.partial + uint64_t((int64_t(s) * p.n + int64_t(id)) * 4l)).v[0];
    store_f(p.dst, DT, int64_t(id), acc);
}
