#!/usr/bin/python3
"""Generates the fixtures of tests/lua/test_nn_layers.lua with PyTorch 1.13:

  tests/fixtures/nnl_layers.npz   one entry per array, keyed "CASE.KIND.NAME":
      CASE.p.NAME   a parameter or buffer of the layer, under its tycho name
                    (1-based container positions, MultiheadAttention's packed
                    in_proj split into q_proj/k_proj/v_proj)
      CASE.x, CASE.x2, ...   inputs;  CASE.y, CASE.y2, ...   expected outputs
  tests/fixtures/nnl_torch_*.npz   raw PyTorch state_dicts (names and layouts
      as torch saves them) for load_weights(path, {from='torch'}).

Run from the repository root: /usr/bin/python3 tests/gen_nn_layer_fixtures.py
(deterministic: torch.manual_seed). The Lua tests only read the files.
"""
import re

import numpy as np
import torch
import torch.nn as tnn
import torch.nn.functional as F

torch.manual_seed(0)
OUT = {}


def arr(t):
    return t.detach().cpu().numpy().copy()


def tycho_name(name):
    # 0-based ModuleList positions -> 1-based
    return ".".join(str(int(p) + 1) if p.isdigit() else p for p in name.split("."))


def tycho_state(module):
    """state_dict of module renamed to tycho's conventions."""
    sd = {}
    for k, v in module.state_dict().items():
        k = tycho_name(k)
        m = re.match(r"^(.*?)(in_proj_weight|in_proj_bias)$", k)
        if m:
            pre, what = m.group(1), m.group(2)
            parts = v.chunk(3, 0)
            suffix = "weight" if what == "in_proj_weight" else "bias"
            for p, t in zip(("q_proj", "k_proj", "v_proj"), parts):
                sd[pre + p + "." + suffix] = t
            continue
        m = re.match(r"^(.*?)([qkv])_proj_weight$", k)
        if m:
            sd[m.group(1) + m.group(2) + "_proj.weight"] = v
            continue
        sd[k] = v
    return sd


def randomize(module):
    """Non-trivial values for every parameter (biases and norms included)."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


def put(case, module=None, **arrays):
    if module is not None:
        for k, v in tycho_state(module).items():
            OUT["%s.p.%s" % (case, k)] = arr(v)
    for k, v in arrays.items():
        OUT["%s.%s" % (case, k)] = arr(v) if torch.is_tensor(v) else np.asarray(v)


def run(case, module, *inputs, **kw):
    module.eval()
    with torch.no_grad():
        y = module(*inputs, **kw)
    names = {}
    for i, x in enumerate(inputs):
        names["x" if i == 0 else "x%d" % (i + 1)] = x
    put(case, module, y=y, **names)


# ------------------------------------------------------------------ conv
def conv_cases():
    m = tnn.Conv1d(3, 4, 3, stride=2, padding=1)
    run("conv1d", m, torch.randn(2, 3, 9))
    m = tnn.Conv2d(4, 6, 3, stride=1, padding=1, groups=2)
    run("conv2d", m, torch.randn(2, 4, 5, 6))
    m = tnn.Conv2d(3, 4, (3, 4), padding="same", dilation=(1, 2), bias=False)
    run("conv2d_same", m, torch.randn(1, 3, 6, 7))
    m = tnn.Conv2d(2, 3, 3, stride=2, padding=(0, 1), dilation=2)
    run("conv2d_strided", m, torch.randn(2, 2, 9, 8))
    m = tnn.Conv3d(2, 3, (2, 3, 2), stride=(1, 2, 1), padding=1)
    run("conv3d", m, torch.randn(1, 2, 4, 5, 4))
    m = tnn.ConvTranspose1d(3, 2, 3, stride=2, padding=1, output_padding=1)
    run("convt1d", m, torch.randn(2, 3, 5))
    m = tnn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    run("convt2d", m, torch.randn(1, 4, 4, 5))
    m = tnn.ConvTranspose2d(2, 3, (2, 3), stride=(1, 2), dilation=(2, 1), bias=False)
    run("convt2d_dil", m, torch.randn(2, 2, 3, 4))
    m = tnn.ConvTranspose3d(2, 4, (2, 3, 2), stride=(2, 1, 1), padding=(0, 1, 1), groups=2)
    run("convt3d", m, torch.randn(1, 2, 3, 4, 3))
    # separable: depthwise (groups=in, no bias) then 1x1 pointwise
    dw = tnn.Conv2d(3, 6, 3, padding=1, groups=3, bias=False)
    pw = tnn.Conv2d(6, 5, 1)
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        y = pw(dw(x))
    put("sepconv", None, x=x, y=y)
    for k, v in dw.state_dict().items():
        OUT["sepconv.p.depthwise." + k] = arr(v)
    for k, v in pw.state_dict().items():
        OUT["sepconv.p.pointwise." + k] = arr(v)


# ------------------------------------------------------------------ pool
def pool_cases():
    x1 = torch.randn(2, 3, 11)
    x2 = torch.randn(2, 3, 9, 10)
    put("pool1d", None, x=x1,
        max=F.max_pool1d(x1, 3, 2, 1),
        max_ceil=F.max_pool1d(x1, 2, 3, 0, 1, ceil_mode=True),
        avg=F.avg_pool1d(x1, 3, 2, 1),
        avg_nopad=F.avg_pool1d(x1, 3, 2, 1, count_include_pad=False),
        aavg=F.adaptive_avg_pool1d(x1, 4),
        amax=F.adaptive_max_pool1d(x1, 4))
    put("pool2d", None, x=x2,
        max=F.max_pool2d(x2, 3, 2, 1),
        max_dil=F.max_pool2d(x2, (2, 3), (1, 2), (1, 0), (2, 1)),
        max_ceil=F.max_pool2d(x2, 2, 2, ceil_mode=True),
        avg=F.avg_pool2d(x2, 3, 2, 1),
        avg_nopad=F.avg_pool2d(x2, (3, 2), (2, 1), (1, 1), count_include_pad=False),
        aavg=F.adaptive_avg_pool2d(x2, (4, 3)),
        aavg_none=F.adaptive_avg_pool2d(x2, (None, 3)),
        amax=F.adaptive_max_pool2d(x2, (2, 3)))
    x3 = torch.randn(1, 2, 5, 6, 4)
    put("pool3d", None, x=x3,
        max=F.max_pool3d(x3, 2, (1, 2, 2), (1, 0, 1)),
        avg=F.avg_pool3d(x3, (3, 2, 2), 2, (1, 1, 0), ceil_mode=True))


# ------------------------------------------------------------------ norm
def norm_cases():
    for name, cls, shape in (("bn1d", tnn.BatchNorm1d, (5, 4, 3)), ("bn1d_2d", tnn.BatchNorm1d, (6, 4)),
                             ("bn2d", tnn.BatchNorm2d, (3, 4, 3, 2))):
        m = cls(4, momentum=0.2)
        randomize(m)
        start = tycho_state(m)
        for k, v in start.items():
            OUT["%s.p.%s" % (name, k)] = arr(v)
        m.train()
        for step in range(3):
            x = torch.randn(*shape) * 2 + 1
            y = m(x)
            put(name, None, **{"x%d" % step: x, "y%d" % step: y})
        put(name, None, running_mean=m.running_mean, running_var=m.running_var,
            num_batches_tracked=m.num_batches_tracked)
        m.eval()
        x = torch.randn(*shape)
        with torch.no_grad():
            put(name, None, x_eval=x, y_eval=m(x))
    # cumulative average (momentum=None)
    m = tnn.BatchNorm1d(3, momentum=None)
    for step in range(3):
        x = torch.randn(4, 3) * (step + 1)
        m(x)
        put("bn_cum", None, **{"x%d" % step: x})
    put("bn_cum", None, running_mean=m.running_mean, running_var=m.running_var)

    m = tnn.LayerNorm((3, 4))
    randomize(m)
    run("layernorm", m, torch.randn(2, 5, 3, 4))
    m = tnn.GroupNorm(2, 6)
    randomize(m)
    run("groupnorm", m, torch.randn(2, 6, 3, 3))
    m = tnn.InstanceNorm1d(3, affine=True)
    randomize(m)
    run("in1d", m, torch.randn(2, 3, 7))
    m = tnn.InstanceNorm2d(3, track_running_stats=True)
    m.train()
    xs = [torch.randn(2, 3, 4, 4) for _ in range(2)]
    for i, x in enumerate(xs):
        put("in2d", None, **{"x%d" % i: x, "y%d" % i: m(x)})
    m.eval()
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        put("in2d", m, x_eval=x, y_eval=m(x))
    # RMSNorm (torch 1.13 lacks it): the defining formula, eps = finfo.eps
    x = torch.randn(2, 3, 6)
    w = torch.randn(6)
    eps = torch.finfo(torch.float32).eps
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w
    put("rmsnorm", None, x=x, y=y, **{"p.weight": w})
    # AdaLayerNorm: layer_norm(x) * (1 + scale) + shift, [scale, shift] = linear(silu(cond))
    lin = tnn.Linear(5, 12)
    x = torch.randn(2, 4, 6)
    cond = torch.randn(2, 5)
    with torch.no_grad():
        scale, shift = lin(F.silu(cond)).chunk(2, -1)
        y = F.layer_norm(x, (6,)) * (1 + scale[:, None]) + shift[:, None]
    put("adaln", None, x=x, x2=cond, y=y, **{"p.linear.weight": lin.weight, "p.linear.bias": lin.bias})


# ------------------------------------------------------------------ attention
def attention_cases():
    m = tnn.MultiheadAttention(8, 2, batch_first=True)
    randomize(m)
    q = torch.randn(2, 3, 8)
    k = torch.randn(2, 4, 8)
    v = torch.randn(2, 4, 8)
    m.eval()
    with torch.no_grad():
        y, w = m(q, k, v)
        bool_mask = torch.tensor([[False, True, False, False], [False, False, False, True],
                                  [True, False, False, False]])
        kpm = torch.tensor([[False, False, False, True], [False, True, False, False]])
        y_m, w_m = m(q, k, v, attn_mask=bool_mask, key_padding_mask=kpm)
        float_mask = torch.randn(3, 4)
        y_f, _ = m(q, k, v, attn_mask=float_mask)
        causal = torch.triu(torch.ones(3, 3, dtype=torch.bool), 1)
        y_c, _ = m(q, q, q, attn_mask=causal)
        w_heads = m(q, k, v, average_attn_weights=False)[1]
    put("mha", m, q=q, k=k, v=v, y=y, w=w, mask=bool_mask, kpm=kpm, y_m=y_m, w_m=w_m,
        float_mask=float_mask, y_f=y_f, y_c=y_c, w_heads=w_heads)
    # cross-attention with kdim/vdim, seq-first
    m = tnn.MultiheadAttention(6, 3, kdim=5, vdim=4, batch_first=False)
    randomize(m)
    q = torch.randn(3, 2, 6)
    k = torch.randn(4, 2, 5)
    v = torch.randn(4, 2, 4)
    m.eval()
    with torch.no_grad():
        y, _ = m(q, k, v)
    put("mha_cross", m, q=q, k=k, v=v, y=y)
    save_torch_state("tests/fixtures/nnl_torch_mha.npz", m.state_dict())


def transformer_cases():
    for name, kw in (("enc", dict(activation="relu")), ("enc_nf", dict(activation="gelu", norm_first=True))):
        m = tnn.TransformerEncoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True, **kw)
        randomize(m)
        x = torch.randn(2, 5, 8)
        kpm = torch.tensor([[False] * 5, [False, False, False, True, True]])
        m.eval()
        with torch.no_grad():
            y = m(x)
            y_k = m(x, src_key_padding_mask=kpm)
        put(name, m, x=x, y=y, kpm=kpm, y_k=y_k)
    m = tnn.TransformerDecoderLayer(8, 2, dim_feedforward=16, dropout=0.0, batch_first=True)
    randomize(m)
    tgt = torch.randn(2, 4, 8)
    mem = torch.randn(2, 5, 8)
    mask = tnn.Transformer.generate_square_subsequent_mask(4)
    m.eval()
    with torch.no_grad():
        y = m(tgt, mem, tgt_mask=mask)
    put("dec", m, x=tgt, x2=mem, y=y)
    # a full Transformer, saved in torch's own layout for from='torch'
    m = tnn.Transformer(d_model=8, nhead=2, num_encoder_layers=2, num_decoder_layers=2,
                        dim_feedforward=16, dropout=0.0, batch_first=True)
    randomize(m)
    src = torch.randn(2, 5, 8)
    tgt = torch.randn(2, 4, 8)
    m.eval()
    with torch.no_grad():
        y = m(src, tgt, tgt_mask=mask)
    put("transformer", None, x=src, x2=tgt, y=y)
    save_torch_state("tests/fixtures/nnl_torch_transformer.npz", m.state_dict())


# ------------------------------------------------------------------ recurrent
def recurrent_cases():
    m = tnn.LSTM(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(3, 4, 5)
    h0 = torch.randn(4, 3, 6)
    c0 = torch.randn(4, 3, 6)
    with torch.no_grad():
        y, (hn, cn) = m(x, (h0, c0))
        y0, (hn0, cn0) = m(x)
    put("lstm", m, x=x, h0=h0, c0=c0, y=y, hn=hn, cn=cn, y0=y0, hn0=hn0, cn0=cn0)
    save_torch_state("tests/fixtures/nnl_torch_lstm.npz", m.state_dict())
    m = tnn.GRU(5, 6, num_layers=2, bidirectional=True, batch_first=True)
    h0 = torch.randn(4, 3, 6)
    with torch.no_grad():
        y, hn = m(x, h0)
    put("gru", m, x=x, h0=h0, y=y, hn=hn)
    m = tnn.RNN(5, 6, num_layers=2, nonlinearity="relu", batch_first=False)
    xs = torch.randn(4, 3, 5)
    with torch.no_grad():
        y, hn = m(xs)
    put("rnn", m, x=xs, y=y, hn=hn)
    xu = torch.randn(4, 5)  # unbatched
    m = tnn.GRU(5, 6, batch_first=True)
    with torch.no_grad():
        y, hn = m(xu)
    put("gru_unbatched", m, x=xu, y=y, hn=hn)
    xc = torch.randn(3, 5)
    for name, cls in (("lstmcell", tnn.LSTMCell), ("grucell", tnn.GRUCell), ("rnncell", tnn.RNNCell)):
        m = cls(5, 6)
        h = torch.randn(3, 6)
        with torch.no_grad():
            if cls is tnn.LSTMCell:
                c = torch.randn(3, 6)
                h2, c2 = m(xc, (h, c))
                put(name, m, x=xc, h=h, c=c, y=h2, y2=c2)
            else:
                put(name, m, x=xc, h=h, y=m(xc, h))


# ------------------------------------------------------------------ files
def save_torch_state(path, sd):
    """A raw torch state_dict (torch's names and layouts) as .npz (the
    repository ignores *.safetensors; load_weights reads .npz as well)."""
    np.savez_compressed(path, **{k: arr(v) for k, v in sd.items()})


conv_cases()
pool_cases()
norm_cases()
attention_cases()
transformer_cases()
recurrent_cases()
np.savez_compressed("tests/fixtures/nnl_layers.npz", **OUT)
print("%d arrays" % len(OUT))
