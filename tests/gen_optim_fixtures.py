#!/usr/bin/python3
"""gen_optim_fixtures.py -- expected trajectories of ty.optim optimizers.

Writes tests/fixtures/optim_cases.lua (read by tests/lua/test_optim.lua): a
fixed problem -- parameters w (3,4) and b (4,), a fixed sequence of STEPS
gradients -- and, per case, the parameters after each step. Cases torch 1.13
has come from torch.optim (float32); the others (Lion, Adafactor, Muon, LAMB,
AdaBelief, AdaBound, Lookahead) from the papers' update rules written out
below in NumPy (float64). Run: /usr/bin/python3 tests/gen_optim_fixtures.py
"""
import math
import os

import numpy as np
import torch

STEPS = 8
rng = np.random.RandomState(7)
W0 = rng.randn(3, 4).astype(np.float32)
B0 = rng.randn(4).astype(np.float32)
GRADS = [(rng.randn(3, 4).astype(np.float32) * 0.5, rng.randn(4).astype(np.float32) * 0.5)
         for _ in range(STEPS)]


def torch_case(cls, **kw):
    w = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(B0, requires_grad=True)
    opt = cls([w, b], **kw)
    out = []
    for gw, gb in GRADS:
        w.grad = torch.tensor(gw)
        b.grad = torch.tensor(gb)
        opt.step()
        out.append((w.detach().numpy().copy(), b.detach().numpy().copy()))
    return out


def numpy_case(update, state_init):
    """update(p, g, st, t) -> new p (float64), st a dict per parameter."""
    ps = [W0.astype(np.float64), B0.astype(np.float64)]
    sts = [state_init(p) for p in ps]
    out = []
    for t, gs in enumerate(GRADS, start=1):
        ps = [update(p, g.astype(np.float64), st, t) for p, g, st in zip(ps, gs, sts)]
        out.append((ps[0].copy(), ps[1].copy()))
    return out


def lion(lr=1e-4, b1=0.9, b2=0.99, wd=0.0):
    def up(p, g, st, t):
        m = st.setdefault("m", np.zeros_like(p))
        p = p * (1 - lr * wd)
        p = p - lr * np.sign(b1 * m + (1 - b1) * g)
        st["m"] = b2 * m + (1 - b2) * g
        return p
    return up


def rms(x):
    return math.sqrt(np.mean(x * x))


def adafactor(lr=None, eps=(1e-30, 1e-3), clip=1.0, decay=-0.8, beta1=None, wd=0.0,
              scale_parameter=True, warmup_init=False):
    def up(p, g, st, t):
        if lr is None:
            min_step = 1e-6 * t if warmup_init else 1e-2
            step_lr = min(min_step, 1 / math.sqrt(t))
        else:
            step_lr = lr
        if scale_parameter:
            step_lr = max(eps[1], rms(p)) * step_lr
        beta2t = 1 - t ** decay
        u = g * g + eps[0]
        if p.ndim >= 2:
            row = st.setdefault("row", np.zeros(p.shape[:-1]))
            col = st.setdefault("col", np.zeros(p.shape[:-2] + p.shape[-1:]))
            row = beta2t * row + (1 - beta2t) * u.mean(-1)
            col = beta2t * col + (1 - beta2t) * u.mean(-2)
            st["row"], st["col"] = row, col
            r = 1 / np.sqrt(row / row.mean(-1, keepdims=True))
            c = 1 / np.sqrt(col)
            u = r[..., :, None] * c[..., None, :] * g
        else:
            v = st.setdefault("v", np.zeros_like(p))
            v = beta2t * v + (1 - beta2t) * u
            st["v"] = v
            u = g / np.sqrt(v)
        u = u / max(rms(u) / clip, 1.0)
        u = u * step_lr
        if beta1 is not None:
            m = st.setdefault("m", np.zeros_like(p))
            m = beta1 * m + (1 - beta1) * u
            st["m"] = m
            u = m
        if wd != 0:
            p = p - wd * step_lr * p
        return p - u
    return up


def newton_schulz(G, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G.copy()
    tall = G.shape[0] > G.shape[1]
    if tall:
        X = X.T
    X = X / (np.linalg.norm(X) + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * A @ A
        X = a * X + B @ X
    if tall:
        X = X.T
    return X


def muon(lr=0.02, beta=0.95, nesterov=True, wd=0.0, adam_lr=3e-4, adam_b=(0.9, 0.95),
         adam_eps=1e-10, adam_wd=0.0):
    def up(p, g, st, t):
        if p.ndim >= 2:
            buf = st.setdefault("buf", np.zeros_like(p))
            buf = buf + (g - buf) * (1 - beta)
            st["buf"] = buf
            u = g + (buf - g) * beta if nesterov else buf
            u2 = u.reshape(p.shape[0], -1)
            X = newton_schulz(u2) * math.sqrt(max(1, u2.shape[0] / u2.shape[1]))
            p = p * (1 - lr * wd)
            return p - lr * X.reshape(p.shape)
        b1, b2 = adam_b
        m = st.setdefault("m", np.zeros_like(p))
        v = st.setdefault("v", np.zeros_like(p))
        p = p * (1 - adam_lr * adam_wd)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        denom = np.sqrt(v) / math.sqrt(1 - b2 ** t) + adam_eps
        return p - adam_lr / (1 - b1 ** t) * m / denom
    return up


def lamb(lr=1e-3, b1=0.9, b2=0.999, eps=1e-6, wd=0.0):
    def up(p, g, st, t):
        m = st.setdefault("m", np.zeros_like(p))
        v = st.setdefault("v", np.zeros_like(p))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        mh, vh = m / (1 - b1 ** t), v / (1 - b2 ** t)
        r = mh / (np.sqrt(vh) + eps) + wd * p
        pn, rn = np.linalg.norm(p), np.linalg.norm(r)
        trust = pn / rn if pn > 0 and rn > 0 else 1.0
        return p - lr * trust * r
    return up


def adabelief(lr=1e-3, b1=0.9, b2=0.999, eps=1e-16, wd=0.0, decoupled=True):
    def up(p, g, st, t):
        if wd != 0:
            if decoupled:
                p = p * (1 - lr * wd)
            else:
                g = g + wd * p
        m = st.setdefault("m", np.zeros_like(p))
        s = st.setdefault("s", np.zeros_like(p))
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps
        st["m"], st["s"] = m, s
        denom = np.sqrt(s / (1 - b2 ** t)) + eps
        return p - lr / (1 - b1 ** t) * m / denom
    return up


def adabound(lr=1e-3, b1=0.9, b2=0.999, final_lr=0.1, gamma=1e-3, eps=1e-8, wd=0.0):
    def up(p, g, st, t):
        if wd != 0:
            g = g + wd * p
        m = st.setdefault("m", np.zeros_like(p))
        v = st.setdefault("v", np.zeros_like(p))
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        st["m"], st["v"] = m, v
        step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        lower = final_lr * (1 - 1 / (gamma * t + 1))
        upper = final_lr * (1 + 1 / (gamma * t))
        return p - np.clip(step / (np.sqrt(v) + eps), lower, upper) * m
    return up


def lookahead_sgd(lr=0.1, momentum=0.9, k=3, alpha=0.5):
    def up(p, g, st, t):
        if "slow" not in st:
            st["slow"] = p.copy()
        buf = g.copy() if "buf" not in st else momentum * st["buf"] + g
        st["buf"] = buf
        p = p - lr * buf
        if t % k == 0:
            st["slow"] = st["slow"] + alpha * (p - st["slow"])
            p = st["slow"].copy()
        return p
    return up


def lua(x):
    if isinstance(x, np.ndarray):
        if x.ndim == 0:
            return lua(float(x))
        return "{" + ", ".join(lua(v) for v in x) + "}"
    if isinstance(x, (float, np.floating)):
        return "%.9g" % float(x)
    if isinstance(x, (list, tuple)):
        return "{" + ", ".join(lua(v) for v in x) + "}"
    return str(x)


T = torch.optim
CASES = [
    ("SGD", "{lr=0.1}", torch_case(T.SGD, lr=0.1)),
    ("SGD", "{lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01}",
     torch_case(T.SGD, lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", "{lr=0.1, momentum=0.9, nesterov=true, weight_decay=0.01}",
     torch_case(T.SGD, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("RMSprop", "{lr=0.01}", torch_case(T.RMSprop, lr=0.01)),
    ("RMSprop", "{lr=0.01, momentum=0.9, centered=true, weight_decay=0.01}",
     torch_case(T.RMSprop, lr=0.01, momentum=0.9, centered=True, weight_decay=0.01)),
    ("RMSprop", "{lr=0.01, alpha=0.9, centered=true}",
     torch_case(T.RMSprop, lr=0.01, alpha=0.9, centered=True)),
    ("Adagrad", "{lr=0.1}", torch_case(T.Adagrad, lr=0.1)),
    ("Adagrad", "{lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1}",
     torch_case(T.Adagrad, lr=0.1, lr_decay=0.01, weight_decay=0.01,
                initial_accumulator_value=0.1)),
    ("AdaDelta", "{}", torch_case(T.Adadelta)),
    ("AdaDelta", "{lr=0.5, rho=0.8, weight_decay=0.01}",
     torch_case(T.Adadelta, lr=0.5, rho=0.8, weight_decay=0.01)),
    ("Adam", "{lr=0.01}", torch_case(T.Adam, lr=0.01)),
    ("Adam", "{lr=0.01, betas={0.8, 0.99}, amsgrad=true, weight_decay=0.01}",
     torch_case(T.Adam, lr=0.01, betas=(0.8, 0.99), amsgrad=True, weight_decay=0.01)),
    ("AdamW", "{lr=0.01, weight_decay=0.1}", torch_case(T.AdamW, lr=0.01, weight_decay=0.1)),
    ("AdamW", "{lr=0.01, amsgrad=true}", torch_case(T.AdamW, lr=0.01, amsgrad=True)),
    ("Adamax", "{lr=0.01}", torch_case(T.Adamax, lr=0.01)),
    ("Adamax", "{lr=0.01, betas={0.8, 0.9}, weight_decay=0.01}",
     torch_case(T.Adamax, lr=0.01, betas=(0.8, 0.9), weight_decay=0.01)),
    # NAdam: torch 1.13's single-tensor path multiplies mu twice into
    # mu_product_next (fixed in torch 2.0); its foreach path has the paper's
    # formula, which tycho follows
    ("NAdam", "{lr=0.01}", torch_case(T.NAdam, lr=0.01, foreach=True)),
    ("NAdam", "{lr=0.01, weight_decay=0.01, momentum_decay=0.01}",
     torch_case(T.NAdam, lr=0.01, weight_decay=0.01, momentum_decay=0.01, foreach=True)),
    ("RAdam", "{lr=0.01}", torch_case(T.RAdam, lr=0.01)),
    ("RAdam", "{lr=0.01, betas={0.9, 0.9}, weight_decay=0.01}",
     torch_case(T.RAdam, lr=0.01, betas=(0.9, 0.9), weight_decay=0.01)),
    ("Lion", "{lr=0.01}", numpy_case(lion(lr=0.01), lambda p: {})),
    ("Lion", "{lr=0.01, betas={0.8, 0.9}, weight_decay=0.1}",
     numpy_case(lion(lr=0.01, b1=0.8, b2=0.9, wd=0.1), lambda p: {})),
    ("Adafactor", "{}", numpy_case(adafactor(), lambda p: {})),
    ("Adafactor", "{lr=0.01, beta1=0.9, weight_decay=0.1, scale_parameter=false}",
     numpy_case(adafactor(lr=0.01, beta1=0.9, wd=0.1, scale_parameter=False), lambda p: {})),
    ("Muon", "{}", numpy_case(muon(), lambda p: {})),
    ("Muon", "{lr=0.05, nesterov=false, weight_decay=0.1, adam_lr=0.01, adam_weight_decay=0.1}",
     numpy_case(muon(lr=0.05, nesterov=False, wd=0.1, adam_lr=0.01, adam_wd=0.1),
                lambda p: {})),
    ("LAMB", "{lr=0.01}", numpy_case(lamb(lr=0.01), lambda p: {})),
    ("LAMB", "{lr=0.01, weight_decay=0.1}", numpy_case(lamb(lr=0.01, wd=0.1), lambda p: {})),
    ("AdaBelief", "{lr=0.01}", numpy_case(adabelief(lr=0.01), lambda p: {})),
    ("AdaBelief", "{lr=0.01, weight_decay=0.1, decoupled=false}",
     numpy_case(adabelief(lr=0.01, wd=0.1, decoupled=False), lambda p: {})),
    ("AdaBound", "{lr=0.01}", numpy_case(adabound(lr=0.01), lambda p: {})),
    ("AdaBound", "{lr=0.01, final_lr=0.05, gamma=0.1, weight_decay=0.01}",
     numpy_case(adabound(lr=0.01, final_lr=0.05, gamma=0.1, wd=0.01), lambda p: {})),
    ("Lookahead", "{k=3, alpha=0.5, inner={'SGD', {lr=0.1, momentum=0.9}}}",
     numpy_case(lookahead_sgd(), lambda p: {})),
]

here = os.path.dirname(os.path.abspath(__file__))
path = os.path.join(here, "fixtures", "optim_cases.lua")
with open(path, "w") as f:
    f.write("-- generated by tests/gen_optim_fixtures.py (torch %s); do not edit\n"
            % torch.__version__)
    f.write("return {\n")
    f.write("  w0 = %s,\n  b0 = %s,\n" % (lua(W0), lua(B0)))
    f.write("  grads = {\n")
    for gw, gb in GRADS:
        f.write("    {w = %s, b = %s},\n" % (lua(gw), lua(gb)))
    f.write("  },\n  cases = {\n")
    for name, opts, traj in CASES:
        f.write("    {name = %r, opts = %s, steps = {\n" % (name, opts))
        for w, b in traj:
            f.write("      {w = %s, b = %s},\n" % (lua(w), lua(b)))
        f.write("    }},\n")
    f.write("  },\n}\n")
print("wrote", path)
