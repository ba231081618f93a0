#!/usr/bin/python3
"""gen_conv_fixtures.py -- writes the torch 1.13 expectations of
tests/lua/test_conv.lua (run from the repository root):

  tests/fixtures/conv_cases.lua      the cases: function, argument shapes, options
  tests/fixtures/conv_cases.npz      per case NAME: NAME.x, NAME.w, NAME.b (inputs),
                                     NAME.u (a cotangent), NAME.y = f(x, w, b),
                                     NAME.gx / NAME.gw / NAME.gb = grad of sum(y * u)

Everything is float64 (torch computes in float64 too)."""
import numpy as np
import torch
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_default_dtype(torch.float64)

CASES = []   # (name, fn, x shape, w shape or None, bias, lua opts, torch kwargs, extra)


def conv(name, fn, xs, ws, bias=False, lua=None, tk=None):
    CASES.append((name, fn, xs, ws, bias, lua or {}, tk or {}, None))


def pool(name, fn, xs, kernel, lua=None, tk=None):
    CASES.append((name, fn, xs, None, False, lua or {}, tk or {}, kernel))


conv("c1_basic", "conv1d", (2, 3, 10), (4, 3, 3), True)
conv("c1_stride_pad", "conv1d", (2, 3, 11), (4, 3, 3), False, {"stride": 2, "padding": 1},
     {"stride": 2, "padding": 1})
conv("c1_dilation", "conv1d", (1, 2, 12), (3, 2, 3), False, {"dilation": 2, "padding": 2},
     {"dilation": 2, "padding": 2})
conv("c1_groups", "conv1d", (2, 4, 9), (6, 2, 3), True, {"groups": 2}, {"groups": 2})
conv("c1_same", "conv1d", (2, 3, 8), (2, 3, 4), False, {"padding": "same"},
     {"padding": "same"})
conv("c2_basic", "conv2d", (2, 3, 7, 6), (4, 3, 3, 3), True)
conv("c2_stride_pad", "conv2d", (2, 3, 9, 8), (5, 3, 3, 2), False,
     {"stride": [2, 1], "padding": [1, 2]}, {"stride": (2, 1), "padding": (1, 2)})
conv("c2_dilation", "conv2d", (1, 2, 9, 9), (3, 2, 3, 3), True,
     {"dilation": 2, "stride": 2, "padding": 1}, {"dilation": 2, "stride": 2, "padding": 1})
conv("c2_depthwise", "conv2d", (2, 3, 6, 6), (6, 1, 3, 3), False,
     {"groups": 3, "padding": 1}, {"groups": 3, "padding": 1})
conv("c2_same", "conv2d", (1, 2, 5, 6), (3, 2, 2, 3), False, {"padding": "same"},
     {"padding": "same"})
conv("c2_valid", "conv2d", (2, 1, 5, 5), (2, 1, 5, 5), True, {"padding": "valid"},
     {"padding": "valid"})
conv("c2_pointwise", "conv2d", (2, 6, 5, 4), (4, 3, 1, 1), True, {"groups": 2},
     {"groups": 2})
conv("c3_basic", "conv3d", (1, 2, 5, 4, 6), (3, 2, 2, 3, 2), True,
     {"stride": 2, "padding": 1}, {"stride": 2, "padding": 1})
conv("c3_groups", "conv3d", (2, 4, 4, 4, 3), (4, 2, 3, 2, 2), False, {"groups": 2},
     {"groups": 2})
conv("t1_basic", "conv_transpose1d", (2, 4, 5), (4, 3, 3), True,
     {"stride": 2, "padding": 1, "output_padding": 1},
     {"stride": 2, "padding": 1, "output_padding": 1})
conv("t1_groups", "conv_transpose1d", (2, 4, 6), (4, 2, 3), False,
     {"groups": 2, "dilation": 2}, {"groups": 2, "dilation": 2})
conv("t2_basic", "conv_transpose2d", (2, 3, 4, 5), (3, 2, 3, 3), True,
     {"stride": 2, "padding": 1, "output_padding": 1},
     {"stride": 2, "padding": 1, "output_padding": 1})
conv("t2_groups", "conv_transpose2d", (1, 4, 3, 3), (4, 3, 2, 3), False,
     {"groups": 2, "stride": [1, 2], "padding": [0, 1], "dilation": [2, 1]},
     {"groups": 2, "stride": (1, 2), "padding": (0, 1), "dilation": (2, 1)})
conv("t3_basic", "conv_transpose3d", (1, 2, 3, 3, 2), (2, 3, 2, 2, 2), True,
     {"stride": 2}, {"stride": 2})

pool("mp1", "max_pool1d", (2, 3, 11), 3, {"stride": 2, "padding": 1},
     {"stride": 2, "padding": 1})
pool("mp1_ceil_dil", "max_pool1d", (2, 2, 12), 3,
     {"stride": 2, "dilation": 2, "ceil_mode": True},
     {"stride": 2, "dilation": 2, "ceil_mode": True})
pool("mp2", "max_pool2d", (2, 3, 7, 8), 2)
pool("mp2_ceil", "max_pool2d", (2, 2, 7, 6), 3,
     {"stride": 2, "padding": 1, "ceil_mode": True},
     {"stride": 2, "padding": 1, "ceil_mode": True})
pool("mp2_rect", "max_pool2d", (1, 2, 9, 8), [3, 2],
     {"stride": [2, 1], "dilation": [1, 2]}, {"stride": (2, 1), "dilation": (1, 2)})
pool("mp3", "max_pool3d", (1, 2, 5, 6, 4), 2, {"stride": 2, "padding": 1},
     {"stride": 2, "padding": 1})
pool("ap1", "avg_pool1d", (2, 3, 10), 3, {"stride": 2, "padding": 1},
     {"stride": 2, "padding": 1})
pool("ap1_nopad", "avg_pool1d", (2, 3, 10), 3,
     {"stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True},
     {"stride": 2, "padding": 1, "count_include_pad": False, "ceil_mode": True})
pool("ap2", "avg_pool2d", (2, 3, 8, 6), 2)
pool("ap2_ceil", "avg_pool2d", (2, 2, 7, 7), 3,
     {"stride": 2, "padding": 1, "ceil_mode": True},
     {"stride": 2, "padding": 1, "ceil_mode": True})
pool("ap2_ceil_nopad", "avg_pool2d", (1, 2, 6, 7), [3, 2],
     {"stride": [2, 3], "padding": [1, 1], "ceil_mode": True, "count_include_pad": False},
     {"stride": (2, 3), "padding": (1, 1), "ceil_mode": True, "count_include_pad": False})
pool("ap3", "avg_pool3d", (1, 2, 4, 5, 6), 2, {"stride": 2, "padding": 1},
     {"stride": 2, "padding": 1})
pool("aap1", "adaptive_avg_pool1d", (2, 3, 10), 4)
pool("aap1_div", "adaptive_avg_pool1d", (2, 3, 12), 4)
pool("aap2", "adaptive_avg_pool2d", (2, 3, 7, 9), [3, 4])
pool("aap2_div", "adaptive_avg_pool2d", (2, 3, 8, 8), 4)
pool("amp1", "adaptive_max_pool1d", (2, 3, 10), 3)
pool("amp2", "adaptive_max_pool2d", (2, 3, 7, 9), [3, 4])
pool("amp2_div", "adaptive_max_pool2d", (2, 3, 8, 6), [4, 3])
pool("aap3", "adaptive_avg_pool3d", (1, 2, 5, 4, 6), [2, 3, 4])
pool("amp3", "adaptive_max_pool3d", (1, 2, 6, 5, 4), [3, 2, 4])
pool("mp2_dil_pad", "max_pool2d", (1, 2, 9, 9), 3, {"dilation": 2, "padding": 1},
     {"dilation": 2, "padding": 1})


def lua_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua_value(e) for e in v) + "}"
    if isinstance(v, str):
        return '"%s"' % v
    return repr(v)


def main():
    arrays = {}
    lines = ["-- generated by tests/gen_conv_fixtures.py (torch %s); do not edit"
             % torch.__version__, "return {"]
    for name, fn, xs, ws, bias, lua, tk, kernel in CASES:
        x = torch.randn(*xs, requires_grad=True)
        inputs = [x]
        if ws is not None:
            w = torch.randn(*ws, requires_grad=True)
            inputs.append(w)
            b = None
            if bias:
                oc = ws[0] if not fn.startswith("conv_transpose") else ws[1] * tk.get("groups", 1)
                b = torch.randn(oc, requires_grad=True)
                inputs.append(b)
            y = getattr(F, fn)(x, w, b, **tk)
        else:
            arg = tuple(kernel) if isinstance(kernel, list) else kernel
            y = getattr(F, fn)(x, arg, **tk)
        u = torch.randn(*y.shape)
        grads = torch.autograd.grad((y * u).sum(), inputs)
        arrays[name + ".x"] = x.detach().numpy()
        if ws is not None:
            arrays[name + ".w"] = inputs[1].detach().numpy()
            if bias:
                arrays[name + ".b"] = inputs[2].detach().numpy()
        arrays[name + ".u"] = u.numpy()
        arrays[name + ".y"] = y.detach().numpy()
        for tag, g in zip(["gx", "gw", "gb"], grads):
            arrays[name + "." + tag] = g.numpy()
        opts = ", ".join("%s = %s" % (k, lua_value(v)) for k, v in lua.items())
        entry = '   %s = {fn = "%s", bias = %s, opts = {%s}' % (
            name, fn, "true" if bias else "false", opts)
        if kernel is not None:
            entry += ", kernel = %s" % lua_value(kernel)
        lines.append(entry + "},")
    lines.append("}")
    np.savez_compressed("tests/fixtures/conv_cases.npz", **arrays)
    with open("tests/fixtures/conv_cases.lua", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %d cases" % len(CASES))


if __name__ == "__main__":
    main()
