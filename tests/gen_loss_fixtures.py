#!/usr/bin/python3
"""gen_loss_fixtures.py -- fixtures for tests/lua/test_losses.lua and
tests/lua/test_nnops.lua, from torch 1.13 (CPU):

    /usr/bin/python3 tests/gen_loss_fixtures.py

writes tests/fixtures/loss_torch.npz and tests/fixtures/nnops_torch.npz.
Inputs are float32; expected values are computed by torch in float64 from the
float32 inputs. Class labels are stored 1-based (tycho's convention); ignored
rows hold -100 in both conventions. Losses torch 1.13 lacks (log_cosh, focal,
dice, contrastive, center, wasserstein, RMS norm, attention) are computed from
their defining formulas with torch ops.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

rng = np.random.default_rng(1234)
out = {}
nn_out = {}


def f32(*shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def t64(a):
    return torch.tensor(a, dtype=torch.float64)


def put(d, name, v):
    if isinstance(v, torch.Tensor):
        v = v.detach().numpy()
    d[name] = np.asarray(v)


RED = ["none", "mean", "sum"]

# ---------------------------------------------------------------- cross entropy, nll
x = f32(6, 5)
y = rng.integers(0, 5, 6)
yi = y.copy()
yi[[1, 4]] = -100
w = rng.uniform(0.5, 2.0, 5).astype(np.float32)
put(out, "ce_x", x)
put(out, "ce_y", y + 1)
put(out, "ce_yi", np.where(yi == -100, -100, yi + 1))
put(out, "ce_w", w)
X = t64(x)
for r in RED:
    put(out, f"ce__{r}", F.cross_entropy(X, torch.tensor(y), reduction=r))
    put(out, f"ce_w__{r}", F.cross_entropy(X, torch.tensor(y), weight=t64(w), reduction=r))
    put(out, f"ce_wi__{r}", F.cross_entropy(X, torch.tensor(yi), weight=t64(w), ignore_index=-100,
                                            reduction=r))
    put(out, f"ce_ls__{r}", F.cross_entropy(X, torch.tensor(yi), weight=t64(w), ignore_index=-100,
                                            label_smoothing=0.1, reduction=r))
    put(out, f"ce_ls0__{r}", F.cross_entropy(X, torch.tensor(y), label_smoothing=0.2, reduction=r))
    lp = F.log_softmax(X, -1)
    put(out, f"nll_wi__{r}", F.nll_loss(lp, torch.tensor(yi), weight=t64(w), ignore_index=-100,
                                        reduction=r))
    put(out, f"nll__{r}", F.nll_loss(lp, torch.tensor(y), reduction=r))
p = rng.dirichlet(np.ones(5), 6).astype(np.float32)
put(out, "ce_p", p)
for r in RED:
    put(out, f"ce_prob__{r}", F.cross_entropy(X, t64(p), weight=t64(w), label_smoothing=0.1,
                                              reduction=r))
# spatial (N, C, d1, d2)
x4 = f32(2, 4, 3, 3)
y4 = rng.integers(0, 4, (2, 3, 3))
put(out, "ce4_x", x4)
put(out, "ce4_y", y4 + 1)
for r in RED:
    put(out, f"ce4__{r}", F.cross_entropy(t64(x4), torch.tensor(y4), weight=t64(w[:4]), reduction=r))

# ---------------------------------------------------------------- binary cross entropy
z = f32(4, 3)
pr = (1 / (1 + np.exp(-z))).astype(np.float32)
tg = rng.uniform(0, 1, (4, 3)).astype(np.float32)
bw = rng.uniform(0.5, 2, 3).astype(np.float32)
pw = rng.uniform(0.5, 3, 3).astype(np.float32)
put(out, "bce_z", z)
put(out, "bce_p", pr)
put(out, "bce_t", tg)
put(out, "bce_w", bw)
put(out, "bce_pw", pw)
for r in RED:
    put(out, f"bce__{r}", F.binary_cross_entropy(t64(pr), t64(tg), weight=t64(bw), reduction=r))
    put(out, f"bcel__{r}", F.binary_cross_entropy_with_logits(t64(z), t64(tg), weight=t64(bw),
                                                              pos_weight=t64(pw), reduction=r))

# ---------------------------------------------------------------- regression
a = f32(5, 4)
b = f32(5, 4)
put(out, "reg_a", a)
put(out, "reg_b", b)
A, B = t64(a), t64(b)
var = rng.uniform(0.1, 2, (5, 4)).astype(np.float32)
put(out, "reg_var", var)
lpa = F.log_softmax(A, -1)
put(out, "kl_in", lpa.float())
pb = F.softmax(B, -1)
put(out, "kl_t", pb.float())
put(out, "kl_lt", F.log_softmax(B, -1).float())
KLI, KLT, KLLT = t64(out["kl_in"]), t64(out["kl_t"]), t64(out["kl_lt"])
for r in RED:
    put(out, f"l1__{r}", F.l1_loss(A, B, reduction=r))
    put(out, f"mse__{r}", F.mse_loss(A, B, reduction=r))
    put(out, f"sl1__{r}", F.smooth_l1_loss(A, B, beta=0.5, reduction=r))
    put(out, f"huber__{r}", F.huber_loss(A, B, delta=0.7, reduction=r))
    lc = torch.log(torch.cosh(A - B))
    put(out, f"logcosh__{r}", {"none": lc, "mean": lc.mean(), "sum": lc.sum()}[r])
    put(out, f"kl__{r}", F.kl_div(KLI, KLT, reduction=r))
    put(out, f"kllt__{r}", F.kl_div(KLI, KLLT, reduction=r, log_target=True))
    put(out, f"gnll__{r}", F.gaussian_nll_loss(A, B, t64(var), reduction=r))
    put(out, f"gnllf__{r}", F.gaussian_nll_loss(A, B, t64(var), full=True, reduction=r))
put(out, "kl__batchmean", F.kl_div(KLI, KLT, reduction="batchmean"))

# ---------------------------------------------------------------- margins, embeddings
hy = np.where(rng.uniform(size=(5, 4)) > 0.5, 1.0, -1.0).astype(np.float32)
put(out, "hinge_y", hy)
e1, e2, e3 = f32(6, 8), f32(6, 8), f32(6, 8)
ry = np.where(rng.uniform(size=6) > 0.5, 1.0, -1.0).astype(np.float32)
put(out, "emb_1", e1)
put(out, "emb_2", e2)
put(out, "emb_3", e3)
put(out, "emb_y", ry)
r1, r2 = f32(6), f32(6)
put(out, "rank_1", r1)
put(out, "rank_2", r2)
E1, E2, E3 = t64(e1), t64(e2), t64(e3)
for r in RED:
    put(out, f"hinge__{r}", F.hinge_embedding_loss(A, t64(hy), margin=0.5, reduction=r))
    put(out, f"triplet__{r}", F.triplet_margin_loss(E1, E2, E3, margin=1.0, p=2, reduction=r))
    put(out, f"triplet1s__{r}", F.triplet_margin_loss(E1, E2, E3, margin=0.5, p=1, swap=True,
                                                      reduction=r))
    put(out, f"rank__{r}", F.margin_ranking_loss(t64(r1), t64(r2), t64(ry), margin=0.2, reduction=r))
    put(out, f"cos__{r}", F.cosine_embedding_loss(E1, E2, t64(ry), margin=0.1, reduction=r))


def red(v, r):
    return {"none": v, "mean": v.mean(), "sum": v.sum()}[r]


# ---------------------------------------------------------------- the gaps (formulas)
# focal, binary (torchvision's sigmoid_focal_loss) and multi-class
Z, T = t64(z), t64(tg)
pz = torch.sigmoid(Z)
ce = F.binary_cross_entropy_with_logits(Z, T, reduction="none")
pt = pz * T + (1 - pz) * (1 - T)
fl = ce * (1 - pt) ** 2 * (0.25 * T + 0.75 * (1 - T))
alpha = rng.uniform(0.5, 1.5, 5).astype(np.float32)
put(out, "focal_alpha", alpha)
logpt = -F.cross_entropy(X, torch.tensor(y), reduction="none")
flm = -((1 - logpt.exp()) ** 1.5) * logpt * t64(alpha)[torch.tensor(y)]
for r in RED:
    put(out, f"focal__{r}", red(fl, r))
    put(out, f"focalm__{r}", red(flm, r))
# dice: probabilities (N, C, H, W) against labels, smooth 1
pd = F.softmax(t64(f32(2, 3, 4, 4)), 1)
yd = rng.integers(0, 3, (2, 4, 4))
put(out, "dice_p", pd.float())
put(out, "dice_y", yd + 1)
PD = t64(out["dice_p"])
oh = F.one_hot(torch.tensor(yd), 3).permute(0, 3, 1, 2).double()
inter = (PD * oh).sum((2, 3))
den = PD.sum((2, 3)) + oh.sum((2, 3))
dl = 1 - (2 * inter + 1) / (den + 1)
for r in RED:
    put(out, f"dice__{r}", red(dl, r))
# contrastive (label 1 = similar), margin 2
cy = (rng.uniform(size=6) > 0.5).astype(np.float32)
put(out, "contr_y", cy)
d2 = ((E1 - E2) ** 2).sum(-1)
cl = t64(cy) * d2 + (1 - t64(cy)) * torch.clamp(2.0 - d2.sqrt(), min=0) ** 2
for r in RED:
    put(out, f"contr__{r}", red(cl, r))
# center
cent = f32(5, 8)
cyl = rng.integers(0, 5, 6)
put(out, "center_c", cent)
put(out, "center_y", cyl + 1)
cll = ((E1 - t64(cent)[torch.tensor(cyl)]) ** 2).sum(-1)
for r in RED:
    put(out, f"center__{r}", red(cll, r))
# wasserstein
put(out, "wgan_critic", t64(r2).mean() - t64(r1).mean())
put(out, "wgan_gen", -t64(r2).mean())
for r in RED:
    put(out, f"wgan_lab__{r}", red(-t64(ry) * t64(r1), r))

# ---------------------------------------------------------------- nn primitives
xn = f32(3, 4, 5, 6)
put(nn_out, "x", xn)
XN = t64(xn)
wl, bl = f32(5, 6), f32(5, 6)
put(nn_out, "ln_w", wl)
put(nn_out, "ln_b", bl)
put(nn_out, "ln", F.layer_norm(XN, (5, 6), t64(wl), t64(bl), eps=1e-5))
ms = (XN ** 2).mean(-1, keepdim=True)
put(nn_out, "rms", XN / torch.sqrt(ms + 1e-6) * t64(wl[0]))
wc, bc = f32(4), f32(4)
put(nn_out, "c_w", wc)
put(nn_out, "c_b", bc)
put(nn_out, "gn", F.group_norm(XN, 2, t64(wc), t64(bc), eps=1e-5))
put(nn_out, "in", F.instance_norm(XN, weight=t64(wc), bias=t64(bc), eps=1e-5))
rm, rv = f32(4), np.abs(f32(4)) + 0.5
put(nn_out, "bn_rm", rm)
put(nn_out, "bn_rv", rv)
RM, RV = t64(rm), t64(rv)
put(nn_out, "bn_train", F.batch_norm(XN, RM, RV, t64(wc), t64(bc), training=True, momentum=0.2,
                                     eps=1e-5))
put(nn_out, "bn_new_rm", RM)
put(nn_out, "bn_new_rv", RV)
put(nn_out, "bn_eval", F.batch_norm(XN, t64(rm), t64(rv), t64(wc), t64(bc), training=False,
                                    eps=1e-5))
# attention (formula; torch 1.13 has no scaled_dot_product_attention)
q, k, v = f32(2, 3, 5, 4), f32(2, 3, 7, 4), f32(2, 3, 7, 6)
mb = rng.uniform(size=(5, 7)) > 0.3
mb[2, :] = False                                   # a fully masked query row
mf = f32(3, 1, 7)
put(nn_out, "q", q)
put(nn_out, "k", k)
put(nn_out, "v", v)
put(nn_out, "mask_bool", mb.astype(np.uint8))
put(nn_out, "mask_float", mf)
Q, K, V = t64(q), t64(k), t64(v)
s = Q @ K.transpose(-1, -2) * 0.5


def att(s, keep=None):
    if keep is not None:
        s = s.masked_fill(~keep, float("-inf"))
    p = torch.softmax(s, -1)
    p = torch.nan_to_num(p, nan=0.0)
    return p @ V


put(nn_out, "att", att(s))
causal = torch.arange(7)[None, :] <= torch.arange(5)[:, None] + 2
put(nn_out, "att_causal", att(s, causal))
put(nn_out, "att_bool", att(s, torch.tensor(mb)))
put(nn_out, "att_float", att(s + t64(mf)))
put(nn_out, "att_scale", att(Q @ K.transpose(-1, -2) * 0.3))

here = os.path.dirname(os.path.abspath(__file__))
np.savez(os.path.join(here, "fixtures", "loss_torch.npz"), **out)
np.savez(os.path.join(here, "fixtures", "nnops_torch.npz"), **nn_out)
print(len(out), "loss arrays,", len(nn_out), "nnops arrays")
