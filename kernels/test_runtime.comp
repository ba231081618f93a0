// test_runtime.comp -- kernels of the runtime's own tests (tests/c/
// test_vulkan_runtime.c), not an op: mode 0: out[i] = in[i] * MUL + i;
// mode 1: reports index n as out of range for axis 1 in the status block.
#version 450
#include "common.glsl"

layout(constant_id = 1) const int MUL = 2;

layout(buffer_reference, std430, buffer_reference_align = 16) buffer Params {
    uint64_t in_addr;
    uint64_t out_addr;
    uint64_t n;
    uint64_t status;
    int mode;
    int op;
};

void main()
{
    Params p = Params(pc.params);
    uint64_t i = linear_id();
    if (i >= p.n) return;
    if (p.mode == 1) {
        if (i == p.n - 1ul) report_index_error(p.status, uint(p.op), int64_t(p.n) + 5l, 1,
                                               int64_t(p.n));
        return;
    }
    float v = BufF32(p.in_addr + i * 4ul).v[0];
    BufF32(p.out_addr + i * 4ul).v[0] = v * float(MUL) + float(i);
}
