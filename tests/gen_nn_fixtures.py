#!/usr/bin/python3
"""Generates the ty.nn fixtures (tests/fixtures/nn_*.npz) with torch 1.13.

Run once from the repository root: /usr/bin/python3 tests/gen_nn_fixtures.py
The files are committed; tests/lua/test_nn.lua needs no Python.
Index conventions: torch's 0-based ids/positions are converted where the
tycho side is 1-based (Embedding ids, padding_idx), noted per key.
"""
import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as F

OUT = "tests/fixtures/"


def save(path, tensors, metadata=None):
    """tensors (name -> torch tensor or numpy array) into an uncompressed .npz
    (*.safetensors files are git-ignored in this repository; the tests write
    the torch state_dicts to a temporary .safetensors with ty.save and load
    them with load_weights{from='torch'}). metadata is unused."""
    out = {}
    for name, a in tensors.items():
        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
        out[name] = np.array(a, order="C")  # keeps 0-d shapes
    np.savez(OUT + path, **out)


torch.manual_seed(0)
g = np.random.default_rng(0)


def rnd(*shape, scale=1.0):
    return torch.tensor(g.standard_normal(shape).astype(np.float32) * scale)


# ---------------------------------------------------------------- layers
t = {}
lin = tnn.Linear(5, 3)
x = rnd(2, 4, 5)
t["linear.weight"], t["linear.bias"], t["linear.x"] = lin.weight, lin.bias, x
t["linear.y"] = lin(x)

bil = tnn.Bilinear(3, 4, 2)
x1, x2 = rnd(5, 3), rnd(5, 4)
t["bilinear.weight"], t["bilinear.bias"] = bil.weight, bil.bias
t["bilinear.x1"], t["bilinear.x2"], t["bilinear.y"] = x1, x2, bil(x1, x2)

emb = tnn.Embedding(6, 4, padding_idx=2)      # tycho: padding_idx=3
ids = torch.tensor([[0, 2, 5], [2, 1, 3]])
t["embedding.weight"] = emb.weight
t["embedding.ids"] = (ids + 1).to(torch.int32)  # 1-based
t["embedding.y"] = emb(ids)
wg = rnd(2, 3, 4)
(emb(ids) * wg).sum().backward()
t["embedding.dy"] = wg
t["embedding.dweight"] = emb.weight.grad

pre = tnn.PReLU(3)
with torch.no_grad():
    pre.weight.copy_(torch.tensor([0.1, -0.2, 0.3]))
xp = rnd(2, 3, 4)
t["prelu.weight"], t["prelu.x"], t["prelu.y"] = pre.weight, xp, pre(xp)

unf = tnn.Unflatten(1, (2, 3))
xu = rnd(4, 6, 2)
t["unflatten.x"], t["unflatten.y"] = xu, unf(xu)
fl = tnn.Flatten()
t["flatten.x"], t["flatten.y"] = xp, fl(xp)
save("nn_layers.npz", {k: (v.detach() if isinstance(v, torch.Tensor) else v)
                               for k, v in t.items()})

# ---------------------------------------------------------------- activations
a = {}
x = torch.tensor(np.concatenate([np.linspace(-8, 8, 33), [-30.0, 30.0, 0.0]]).astype(np.float32)
                 ).reshape(4, 9)
a["x"] = x
acts = {
    "relu": F.relu(x), "relu6": F.relu6(x * 1.0), "leaky_relu": F.leaky_relu(x, 0.1),
    "elu": F.elu(x, 0.7), "selu": F.selu(x), "celu": F.celu(x, 1.3),
    "gelu": F.gelu(x), "gelu_tanh": F.gelu(x, approximate="tanh"), "silu": F.silu(x),
    "mish": F.mish(x), "hardswish": F.hardswish(x), "hardsigmoid": F.hardsigmoid(x),
    "hardtanh": F.hardtanh(x, -2.0, 3.0), "tanh": torch.tanh(x), "sigmoid": torch.sigmoid(x),
    "log_sigmoid": F.logsigmoid(x), "softplus": F.softplus(x),
    "softplus_b2_t5": F.softplus(x, beta=2, threshold=5), "softsign": F.softsign(x),
    "softmax": F.softmax(x, -1), "log_softmax": F.log_softmax(x, -1),
    "softmax_dim1": F.softmax(x, 0), "glu": F.glu(x[:, :8], -1), "glu_dim1": F.glu(x, 0),
}
a.update(acts)
save("nn_activations.npz", a)

# ---------------------------------------------------------------- RoPE (MLX formulas)


def rope_ref(x, dims, traditional, base, scale, offset):
    x = x.astype(np.float64)
    L = x.shape[-2]
    half = dims // 2
    pos = (np.arange(L) + offset) * scale
    inv = base ** (-np.arange(half) * 2.0 / dims)
    th = pos[:, None] * inv[None, :]
    c, s = np.cos(th), np.sin(th)
    out = x.copy()
    if traditional:
        x1, x2 = x[..., 0:dims:2], x[..., 1:dims:2]
        out[..., 0:dims:2] = x1 * c - x2 * s
        out[..., 1:dims:2] = x1 * s + x2 * c
    else:
        x1, x2 = x[..., :half], x[..., half:dims]
        out[..., :half] = x1 * c - x2 * s
        out[..., half:dims] = x1 * s + x2 * c
    return out.astype(np.float32)


def sinusoid_ref(L, dim, offset, base):
    pos = np.arange(L) + offset
    i = np.arange(dim // 2)
    ang = pos[:, None] * base ** (-2.0 * i / dim)[None, :]
    pe = np.zeros((L, dim))
    pe[:, 0::2] = np.sin(ang)
    pe[:, 1::2] = np.cos(ang)
    return pe.astype(np.float32)


r = {}
xr = g.standard_normal((2, 3, 5, 8)).astype(np.float32)
r["x"] = xr
r["default"] = rope_ref(xr, 8, False, 10000.0, 1.0, 0)
r["traditional"] = rope_ref(xr, 8, True, 10000.0, 1.0, 0)
r["partial_offset"] = rope_ref(xr, 4, False, 500.0, 0.5, 7)
r["partial_traditional"] = rope_ref(xr, 6, True, 10000.0, 1.0, 3)
r["sinusoid"] = sinusoid_ref(5, 8, 0, 10000.0)
r["sinusoid_offset"] = sinusoid_ref(5, 8, 4, 10000.0)
save("nn_rope.npz", r)

# ---------------------------------------------------------------- torch state_dicts
mlp = tnn.Sequential(tnn.Linear(4, 8), tnn.ReLU(), tnn.Linear(8, 3))
save("nn_torch_mlp.npz", {k: v.detach() for k, v in mlp.state_dict().items()},
     {"format": "pt"})
xm = rnd(5, 4)
save("nn_torch_mlp_io.npz", {"x": xm, "y": mlp(xm).detach()})

bn = tnn.Sequential(tnn.Linear(4, 6), tnn.BatchNorm1d(6), tnn.ReLU(), tnn.Linear(6, 2))
bn.train()
for _ in range(3):
    bn(rnd(8, 4))
bn.eval()
save("nn_torch_bn.npz", {k: v.detach() for k, v in bn.state_dict().items()},
     {"format": "pt"})
save("nn_torch_bn_io.npz", {"x": xm, "y": bn(xm).detach()})
print("wrote tests/fixtures/nn_*.npz")
