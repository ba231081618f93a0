#!/usr/bin/python3
"""bench/peer.py -- the workloads of bench/bench.lua in NumPy and PyTorch (CPU).

    /usr/bin/python3 bench/peer.py --threads N [--lib numpy|torch] [--only NAME] [--scale F]

Same op names, shapes, dtypes (float32), warm-up and repetition counts as
bench.lua; each line is  name<TAB>median_seconds<TAB>reps , with the library
in a '#lib' header.  Thread counts must be set before numpy/torch load, so
run.sh passes --threads and this script sets OMP/OPENBLAS/MKL variables
first.  Without --lib, both libraries run (torch only if it imports).
"""
import os
import sys


def parse():
    args = {"threads": None, "lib": None, "only": None, "scale": 1.0}
    a = sys.argv[1:]
    i = 0
    while i < len(a):
        k = a[i].lstrip("-")
        if k not in args or i + 1 >= len(a):
            sys.exit("usage: peer.py --threads N [--lib numpy|torch] [--only NAME] [--scale F]")
        args[k] = a[i + 1]
        i += 2
    args["scale"] = float(args["scale"])
    return args


ARGS = parse()
if ARGS["threads"]:
    for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[v] = ARGS["threads"]

import time  # noqa: E402
import numpy as np  # noqa: E402

N16 = 16 * 1024 * 1024


def median(t):
    t = sorted(t)
    n = len(t)
    return t[n // 2] if n % 2 else (t[n // 2 - 1] + t[n // 2]) / 2


def cases(lib):
    """[(name, warmup, reps, setup, run)] for lib 'numpy' or 'torch'."""
    rng = np.random.default_rng(0)
    if lib == "torch":
        import torch
        torch.manual_seed(0)

        def randn(*shape):
            return torch.randn(*shape, dtype=torch.float32)
    else:
        def randn(*shape):
            return rng.standard_normal(shape, dtype=np.float32)

    out = []

    def case(name, warmup, reps, setup, run):
        out.append((name, warmup, reps, setup, run))

    if lib == "torch":
        import torch
        mm = torch.matmul
        exp = torch.exp
        relu = torch.relu
        def softmax(x): return torch.softmax(x, -1)
        def tcopy(x): return x.t().contiguous()
        def take_rows(x, idx): return x.index_select(0, idx)
        def sort(x): return torch.sort(x).values
        def randn16(): return torch.randn(N16)
        def randint(hi, n): return torch.randint(0, hi, (n,))
    else:
        mm = np.matmul
        exp = np.exp
        def relu(x): return np.maximum(x, 0)

        def softmax(x):
            e = np.exp(x - x.max(-1, keepdims=True))
            return e / e.sum(-1, keepdims=True)
        def tcopy(x): return np.ascontiguousarray(x.T)
        def take_rows(x, idx): return x.take(idx, axis=0)
        def sort(x): return np.sort(x)
        def randn16(): return rng.standard_normal(N16, dtype=np.float32)
        def randint(hi, n): return rng.integers(0, hi, n)

    for n in (256, 1024, 2048):
        reps = 5 if n == 2048 else (10 if n == 1024 else 50)
        case("matmul_f32_%d" % n, 2, reps,
             lambda n=n: (randn(n, n), randn(n, n)), lambda s: mm(s[0], s[1]))
    case("bmm_f32_32x128", 3, 30,
         lambda: (randn(32, 128, 128), randn(32, 128, 128)), lambda s: mm(s[0], s[1]))
    case("add_f32_16M", 2, 10, lambda: (randn(N16), randn(N16)), lambda s: s[0] + s[1])
    case("exp_f32_16M", 2, 10, lambda: randn(N16), lambda s: exp(s))
    case("chain_relu(x*2+1)_16M", 2, 10, lambda: randn(N16), lambda s: relu(s * 2 + 1))
    case("sum_all_4096x4096", 2, 10, lambda: randn(4096, 4096), lambda s: s.sum())
    case("sum_lastaxis_4096x4096", 2, 10, lambda: randn(4096, 4096), lambda s: s.sum(-1))
    case("softmax_lastaxis_4096x1024", 2, 10, lambda: randn(4096, 1024), softmax)
    case("argmax_lastaxis_4096x4096", 2, 10, lambda: randn(4096, 4096), lambda s: s.argmax(-1))
    case("sort_f32_1M", 1, 5, lambda: randn(1024 * 1024), sort)
    case("transpose_copy_4096x4096", 2, 10, lambda: randn(4096, 4096), tcopy)
    case("take_rows_65536x256", 2, 10,
         lambda: (randn(65536, 256), randint(65536, 65536)), lambda s: take_rows(s[0], s[1]))
    case("randn_f32_16M", 1, 5, lambda: None, lambda s: randn16())

    # One SGD-with-momentum step of examples/fashion_softmax.lua, hand-written
    # gradients (no autograd), as in bench.lua.
    def mlp_setup():
        def linear(fan_in, fan_out):
            b = 1 / fan_in ** 0.5
            w = rng.uniform(-b, b, (fan_out, fan_in)).astype(np.float32)
            bias = rng.uniform(-b, b, fan_out).astype(np.float32)
            return w, bias
        s = {}
        s["w1"], s["b1"] = linear(784, 256)
        s["w2"], s["b2"] = linear(256, 10)
        s["x"] = rng.uniform(0, 1, (128, 784)).astype(np.float32)
        s["y"] = rng.integers(0, 10, 128)
        if lib == "torch":
            import torch
            s = {k: torch.from_numpy(v) for k, v in s.items()}
        s["state"] = {"w1": 0, "b1": 0, "w2": 0, "b2": 0}
        return s

    if lib == "torch":
        import torch

        def log_softmax(z): return torch.log_softmax(z, -1)
        def one_hot(y): return torch.nn.functional.one_hot(y, 10).to(torch.float32)
    else:
        def log_softmax(z):
            m = z.max(-1, keepdims=True)
            return z - (m + np.log(np.exp(z - m).sum(-1, keepdims=True)))

        def one_hot(y): return np.eye(10, dtype=np.float32)[y]

    def mlp_run(s):
        lr, momentum, n = 0.05, 0.9, 128
        x, y = s["x"], s["y"]
        h = relu(x @ s["w1"].T + s["b1"])
        logits = h @ s["w2"].T + s["b2"]
        logp = log_softmax(logits)
        target = one_hot(y)
        loss = -(logp * target).sum() / n
        correct = (logits.argmax(-1) == y).sum()
        dlogits = (exp(logp) - target) / n
        grads = {"w2": dlogits.T @ h, "b2": dlogits.sum(0)}
        dh = (dlogits @ s["w2"]) * (h > 0)
        grads["w1"] = dh.T @ x
        grads["b1"] = dh.sum(0)
        for k, g in grads.items():
            s["state"][k] = s["state"][k] * momentum + g
            s[k] = s[k] - lr * s["state"][k]
        return float(loss) + float(correct)

    case("mlp_step_b128_784-256-10", 5, 50, mlp_setup, mlp_run)

    if lib == "torch":     # NumPy has no convolution
        import torch.nn.functional as F

        def conv_grad_setup():
            x = randn(64, 32, 28, 28).requires_grad_()
            w = randn(64, 32, 3, 3).requires_grad_()
            return x, w

        def conv_grad(s):
            y = F.conv2d(s[0], s[1], padding=1)
            return torch.autograd.grad(y.sum(), [s[0], s[1]])

        case("conv2d_f32_b64_32-64_28x28", 2, 10,
             lambda: (randn(64, 32, 28, 28), randn(64, 32, 3, 3)),
             lambda s: F.conv2d(s[0], s[1], padding=1))
        case("conv2d_grad_f32_b64_32-64_28x28", 1, 5, conv_grad_setup, conv_grad)
        case("max_pool2d_f32_b64_32_28x28", 2, 10, lambda: randn(64, 32, 28, 28),
             lambda s: F.max_pool2d(s, 2))
    return out


def run(lib):
    if lib == "torch":
        import torch
        if ARGS["threads"]:
            torch.set_num_threads(int(ARGS["threads"]))
        print("#lib\ttorch %s\n#threads\t%d" % (torch.__version__, torch.get_num_threads()))
    else:
        print("#lib\tnumpy %s\n#threads\t%s" % (np.__version__, ARGS["threads"] or "default"))
    sys.stdout.flush()
    for name, warmup, reps, setup, fn in cases(lib):
        if ARGS["only"] and ARGS["only"] not in name:
            continue
        s = setup()
        for _ in range(warmup):
            fn(s)
        reps = max(1, int(reps * ARGS["scale"] + 0.5))
        times = []
        for _ in range(reps):
            t0 = time.perf_counter()
            r = fn(s)
            times.append(time.perf_counter() - t0)
            del r
        print("%s\t%.9f\t%d" % (name, median(times), reps))
        sys.stdout.flush()


def main():
    libs = [ARGS["lib"]] if ARGS["lib"] else ["numpy", "torch"]
    for lib in libs:
        if lib == "torch":
            try:
                import torch  # noqa: F401
            except Exception as e:  # torch missing or broken: skip it
                print("#lib\ttorch unavailable (%s)" % e)
                continue
        run(lib)


if __name__ == "__main__":
    main()
