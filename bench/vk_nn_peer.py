#!/usr/bin/env python3
"""bench/vk_nn_peer.py -- the cases of bench/vk_nn.lua in PyTorch on CUDA
(or the CPU when CUDA is absent), same output format:
    name<TAB>median_seconds<TAB>value<TAB>unit
TF32 is off, so float32 convolutions and matmuls are true float32 as in tycho."""
import torch
import torch.nn.functional as F

from peer_util import dev, print_device, report, scale, timed

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
torch.backends.cudnn.benchmark = True

print_device()
n = max(1, 32 // scale)
for name, cin, cout, hw, k, stride, pad in [("conv3x3_128_56", 128, 128, 56, 3, 1, 1),
                                            ("conv1x1_256_28", 256, 256, 28, 1, 1, 0),
                                            ("conv3x3s2_64_112", 64, 128, 112, 3, 2, 1)]:
    x = torch.randn(n, cin, hw, hw, device=dev)
    w = torch.randn(cout, cin, k, k, device=dev) * 0.05
    ho = (hw + 2 * pad - k) // stride + 1
    flops = 2 * n * cout * ho * ho * cin * k * k
    with torch.no_grad():
        s = timed(lambda: F.conv2d(x, w, stride=stride, padding=pad), 10)
    report(name + "_fwd", s, flops / s / 1e9, "GFLOP/s")
    xg, wg = x.clone().requires_grad_(), w.clone().requires_grad_()

    def fb():
        return torch.autograd.grad(F.conv2d(xg, wg, stride=stride, padding=pad).sum(), [xg, wg])
    s = timed(fb, 10)
    report(name + "_fwd_bwd", s, 3 * flops / s / 1e9, "GFLOP/s")

b, h, l, d = max(1, 8 // scale), 16, 1024, 64
q, k, v = (torch.randn(b, h, l, d, device=dev) for _ in range(3))
aflops = 4 * b * h * l * l * d
with torch.no_grad():
    s = timed(lambda: F.scaled_dot_product_attention(q, k, v), 10)
    report("attention_8x16x1024x64", s, aflops / s / 1e9, "GFLOP/s")
    s = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), 10)
    report("attention_causal_8x16x1024x64", s, aflops / 2 / s / 1e9, "GFLOP/s")
    rows = max(1, 8192 // scale)
    x = torch.randn(rows, 4096, device=dev)
    wln, bln = torch.randn(4096, device=dev), torch.randn(4096, device=dev)
    s = timed(lambda: F.layer_norm(x, (4096,), wln, bln), 10)
    report("layer_norm_8192x4096", s, 2 * 4 * rows * 4096 / s / 1e9, "GB/s")
    logits = torch.randn(rows, 32000, device=dev)
    labels = torch.randint(0, 32000, (rows,), device=dev)
    s = timed(lambda: F.cross_entropy(logits, labels, reduction="none"), 10)
    report("softmax_ce_8192x32000", s, 4 * rows * 32000 / s / 1e9, "GB/s")

np_ = (64 * 1024 * 1024) // scale
p = torch.randn(np_, device=dev)
p.grad = torch.randn(np_, device=dev)
opt = torch.optim.Adam([p], lr=1e-3, fused=(dev == "cuda"))
s = timed(opt.step, 10)
report("adam_update_64M", s, 7 * 4 * np_ / s / 1e9, "GB/s")

model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                            torch.nn.ReLU(), torch.nn.Linear(256, 10)).to(dev)
mopt = torch.optim.Adam(model.parameters(), lr=1e-3)
xb = torch.randn(128, 784, device=dev)
yb = torch.randint(0, 10, (128,), device=dev)


def step():
    mopt.zero_grad()
    loss = F.cross_entropy(model(xb), yb)
    loss.backward()
    mopt.step()
    return loss
s = timed(step, 50)
report("mlp_train_step_b128", s, s * 1e6, "us")
