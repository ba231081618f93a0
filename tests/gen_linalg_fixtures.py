#!/usr/bin/python3
"""Generates tests/fixtures/linalg_expected.lua (ty.linalg, ty.einsum) and
tests/fixtures/linalg_metrics_expected.lua (ty.metrics) from NumPy 1.x.
Run from the repository root: /usr/bin/python3 tests/gen_linalg_fixtures.py
Metrics follow scikit-learn's definitions (implemented here with NumPy)."""
import numpy as np

rng = np.random.default_rng(1234)


def lua(v, ind=0):
    if isinstance(v, dict):
        pad = "   " * (ind + 1)
        items = []
        for k in sorted(v):
            key = '["%s"]' % k if isinstance(k, str) else "[%d]" % k
            items.append("%s%s = %s" % (pad, key, lua(v[k], ind + 1)))
        return "{\n" + ",\n".join(items) + "\n" + "   " * ind + "}"
    if isinstance(v, (list, tuple)):
        return "{" + ", ".join(lua(x, ind) for x in v) + "}"
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return lua(v.item(), ind)
        return lua(v.tolist(), ind)
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if np.isnan(f):
            return "0/0"
        if np.isinf(f):
            return "math.huge" if f > 0 else "-math.huge"
        return repr(f)
    if isinstance(v, str):
        return '"%s"' % v
    raise TypeError(type(v))


def arr(shape, lo=-2, hi=2):
    return np.round(rng.uniform(lo, hi, size=shape), 3)


def wellcond(shape):
    a = arr(shape)
    n = shape[-1]
    return a + 3 * np.eye(n)


def spd(shape):
    x = arr(shape)
    n = shape[-1]
    return np.round(x @ np.swapaxes(x, -1, -2) + n * np.eye(n), 3)


def sym(shape):
    x = arr(shape)
    return np.round(x + np.swapaxes(x, -1, -2), 3)


L = {}
A3 = wellcond((3, 3)); A23 = wellcond((2, 3, 3))
L["inv"] = [{"a": A3, "out": np.linalg.inv(A3)}, {"a": A23, "out": np.linalg.inv(A23)}]
L["det"] = [{"a": A3, "out": np.linalg.det(A3)}, {"a": A23, "out": np.linalg.det(A23)},
            {"a": arr((4, 4)), }]
L["det"][2]["out"] = np.linalg.det(L["det"][2]["a"])
sl = np.linalg.slogdet(A23)
L["slogdet"] = [{"a": A23, "sign": sl[0], "logabs": sl[1]}]
b3 = arr((3,)); B32 = arr((3, 2)); b23 = arr((2, 3)); B232 = arr((2, 3, 2))
L["solve"] = [
    {"a": A3, "b": b3, "out": np.linalg.solve(A3, b3)},
    {"a": A3, "b": B32, "out": np.linalg.solve(A3, B32)},
    {"a": A23, "b": b23, "out": np.linalg.solve(A23, b23)},
    {"a": A3, "b": B232, "out": np.linalg.solve(A3, B232)},
]
S3 = spd((3, 3)); S23 = spd((2, 4, 4))
L["cholesky"] = [{"a": S3, "out": np.linalg.cholesky(S3)},
                 {"a": S23, "out": np.linalg.cholesky(S23)}]
Q43 = arr((4, 3)); Q34 = arr((3, 4)); Q243 = arr((2, 4, 3))
L["qr"] = []
for a in (Q43, Q34, Q243):
    for mode in ("reduced", "complete"):
        q, r = np.linalg.qr(a, mode=mode) if a.ndim == 2 else (None, None)
        if a.ndim > 2:
            qs, rs = zip(*[np.linalg.qr(m, mode=mode) for m in a])
            q, r = np.stack(qs), np.stack(rs)
        L["qr"].append({"a": a, "mode": mode, "q": q, "r": r})
L["svd"] = []
for a in (Q43, Q34, Q243):
    L["svd"].append({"a": a, "s": np.linalg.svd(a, compute_uv=False)})
Y3 = sym((3, 3)); Y24 = sym((2, 4, 4))
L["eigh"] = []
for a in (Y3, Y24):
    for uplo in ("L", "U"):
        w, v = np.linalg.eigh(a, UPLO=uplo)
        L["eigh"].append({"a": a, "UPLO": uplo, "w": w, "absv": np.abs(v)})
# eigh reads one triangle only
T = arr((3, 3))
w, v = np.linalg.eigh(T, UPLO="L")
L["eigh"].append({"a": T, "UPLO": "L", "w": w, "absv": np.abs(v)})
L["pinv"] = [{"a": Q43, "out": np.linalg.pinv(Q43)}, {"a": Q243, "out": np.linalg.pinv(Q243)}]
R = np.array([[1., 2, 3], [2, 4, 6], [1, 0, 1], [0, 1, 1.]])
L["pinv"].append({"a": R, "out": np.linalg.pinv(R)})
L["lstsq"] = []
for a, b in ((arr((5, 3)), arr((5,))), (arr((5, 3)), arr((5, 2))), (R, arr((4,))),
             (arr((2, 3)), arr((2,)))):
    x, res, rank, s = np.linalg.lstsq(a, b, rcond=None)
    L["lstsq"].append({"a": a, "b": b, "x": x, "res": res, "rank": int(rank), "s": s,
                       "nres": len(res)})
L["matrix_rank"] = [{"a": R, "out": int(np.linalg.matrix_rank(R))},
                    {"a": A3, "out": int(np.linalg.matrix_rank(A3))}]
# norms
V = arr((5,)); M = arr((3, 4)); X = arr((2, 3, 4))
L["norm"] = []
def norm_case(x, ord, axis, keep=False):
    L["norm"].append({"x": x, "ord": ord if ord is not None else "none",
                      "axis": (list(np.atleast_1d(axis) + 1) if axis is not None else "none"),
                      "keepdims": keep,
                      "out": np.linalg.norm(x, ord=ord, axis=axis, keepdims=keep)})
for o in (None, 1, 2, np.inf, -np.inf, 0, 3, 0.5):
    norm_case(V, o, None)
for o in (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf):
    norm_case(M, o, None)
norm_case(X, None, None)
norm_case(X, None, None, True)
norm_case(X, 2, 2)            # vector norms along axis 3 (0-based 2)
norm_case(X, 1, 0, True)
norm_case(X, "fro", (1, 2))
norm_case(X, "nuc", (1, 2), True)
norm_case(X, 2, (2, 1))
norm_case(X, np.inf, (0, 2))
norm_case(X, -1, (2, 0), True)
norm_case(X, -2, (0, 1))
# einsum
E = []
def ein(sub, *shapes):
    ops = [arr(s) for s in shapes]
    E.append({"sub": sub, "ops": ops, "out": np.einsum(sub, *ops)})
ein("ij,jk->ik", (2, 3), (3, 4))
ein("ij,jk", (2, 3), (3, 4))
ein("ij->ji", (2, 3))
ein("ba", (2, 3))
ein("ii->i", (3, 3))
ein("ii", (3, 3))
ein("ij->", (2, 3))
ein("ij->j", (2, 3))
ein("i,i->", (4,), (4,))
ein("i,j->ij", (3,), (4,))
ein("bij,bjk->bik", (2, 3, 4), (2, 4, 5))
ein("bij,jk->bik", (2, 3, 4), (4, 2))
ein("...ij,...jk->...ik", (2, 3, 4), (4, 2))
ein("...i,...i", (2, 3), (2, 3))
ein("i...->...", (3, 2, 2))
ein("ijk,ikl,lm->jm", (2, 3, 4), (2, 4, 2), (2, 3))
ein("bhqd,bhkd->bhqk", (2, 2, 3, 4), (2, 2, 5, 4))
ein("iij->j", (3, 3, 2))
ein("ij,ij->ij", (2, 3), (2, 3))
ein("ij,kj->ik", (2, 3), (4, 3))
ein("abc,cd,de->abe", (2, 3, 4), (4, 2), (2, 3))
ein("i,i,i->", (4,), (4,), (4,))
ein("ij,jk,kl->il", (2, 3), (3, 4), (4, 2))
ein("...,...", (2, 3), (1, 3))
ein("ab,a->b", (3, 2), (3,))
ein("iji->j", (2, 3, 2))

with open("tests/fixtures/linalg_expected.lua", "w") as f:
    f.write("-- generated by tests/gen_linalg_fixtures.py from NumPy %s; do not edit\n"
            % np.__version__)
    f.write("return " + lua({"linalg": L, "einsum": E}) + "\n")

# ------------------------------------------------------------------ metrics
def rankdata(x):
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    xs = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def auroc(s, t):
    r = rankdata(s)
    npos = t.sum(); nneg = len(t) - npos
    return (r[t == 1].sum() - npos * (npos + 1) / 2) / (npos * nneg)


def ap(s, t):
    order = np.argsort(-s, kind="mergesort")
    s, t = s[order], t[order]
    distinct = np.where(np.diff(s))[0]
    idx = np.r_[distinct, len(t) - 1]
    tps = np.cumsum(t)[idx]; fps = 1 + idx - tps
    prec = tps / (tps + fps); rec = tps / t.sum()
    prec = np.r_[prec[::-1], 1]; rec = np.r_[rec[::-1], 0]
    return -np.sum(np.diff(rec) * prec[:-1])


def prf(cm):
    tp = np.diag(cm).astype(float); pc = cm.sum(0); ac = cm.sum(1)
    with np.errstate(all="ignore"):
        p = np.where(pc > 0, tp / np.maximum(pc, 1), 0)
        r = np.where(ac > 0, tp / np.maximum(ac, 1), 0)
        f = np.where(pc + ac > 0, 2 * tp / np.maximum(pc + ac, 1), 0)
    present = (pc + ac) > 0
    out = {}
    for name, v in (("precision", p), ("recall", r), ("f1", f)):
        out[name + "_none"] = v
        out[name + "_macro"] = v[present].mean()
        out[name + "_weighted"] = (v * ac).sum() / ac.sum()
    out["precision_micro"] = tp.sum() / pc.sum()
    out["recall_micro"] = tp.sum() / ac.sum()
    out["f1_micro"] = 2 * tp.sum() / (pc.sum() + ac.sum())
    return out


N, C = 24, 4
scores = np.round(rng.uniform(0, 1, size=(N, C)), 2)   # ties on purpose
target = rng.integers(0, C, size=N)
target[:C] = np.arange(C)
pred = scores.argmax(1)
cm = np.zeros((C, C), dtype=int)
for t_, p_ in zip(target, pred):
    cm[t_, p_] += 1
Mx = {"scores": scores, "target": target + 1, "cm": cm, "accuracy": (pred == target).mean()}
rank_of_t = (scores > scores[np.arange(N), target][:, None]).sum(1)
Mx["top2"] = (rank_of_t < 2).mean()
Mx.update(prf(cm))
aucs = [auroc(scores[:, c], (target == c).astype(int)) for c in range(C)]
aps = [ap(scores[:, c], (target == c).astype(int)) for c in range(C)]
support = np.bincount(target, minlength=C)
Mx["auroc_macro"] = np.mean(aucs); Mx["auroc_none"] = aucs
Mx["auroc_weighted"] = (np.array(aucs) * support).sum() / N
Mx["ap_macro"] = np.mean(aps)
# binary
bs = np.round(rng.uniform(0, 1, size=30), 2)
bt = (rng.uniform(0, 1, size=30) < 0.4).astype(int)
bp = (bs >= 0.5).astype(int)
bcm = np.zeros((2, 2), dtype=int)
for t_, p_ in zip(bt, bp):
    bcm[t_, p_] += 1
bo = prf(bcm)
Bx = {"scores": bs, "target": bt, "cm": bcm, "accuracy": (bp == bt).mean(),
      "precision": bo["precision_none"][1], "recall": bo["recall_none"][1],
      "f1": bo["f1_none"][1], "auroc": auroc(bs, bt), "ap": ap(bs, bt)}
# regression
yp = np.round(rng.normal(size=(10, 3)), 3); yt = np.round(yp + rng.normal(size=(10, 3)) * 0.5, 3)
def r2(p, t):
    sse = ((t - p) ** 2).sum(0); sst = ((t - t.mean(0)) ** 2).sum(0)
    return (1 - sse / sst).mean()
Rx = {"pred": yp, "target": yt, "mse": ((yp - yt) ** 2).mean(), "mae": np.abs(yp - yt).mean(),
      "r2": r2(yp, yt), "r2_1d": r2(yp[:, :1], yt[:, :1])}
# perplexity
lg = np.round(rng.normal(size=(2, 5, 6)), 3); lab = rng.integers(0, 6, size=(2, 5))
lsm = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
nll = -np.take_along_axis(lsm, lab[..., None], -1)[..., 0]
keep = lab != 2
Px = {"logits": lg, "labels": lab + 1, "ppl": np.exp(nll.mean()),
      "ppl_ignore": np.exp(nll[keep].mean())}  # ignore_index = 3 (label 2 + 1)
with open("tests/fixtures/linalg_metrics_expected.lua", "w") as f:
    f.write("-- generated by tests/gen_linalg_fixtures.py (scikit-learn definitions in "
            "NumPy %s); do not edit\n" % np.__version__)
    f.write("return " + lua({"multi": Mx, "binary": Bx, "regression": Rx, "perplexity": Px})
            + "\n")
print("wrote tests/fixtures/linalg_expected.lua, tests/fixtures/linalg_metrics_expected.lua")
