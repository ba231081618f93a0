"""bench/peer_util.py -- what the PyTorch peers of bench/vk_ops.lua and
bench/vk_nn.lua share: the --scale argument, the device (CUDA when available,
else the CPU), median timing with a warm-up and a synchronisation after each
call, and the output format
    name<TAB>median_seconds<TAB>value<TAB>unit"""
import statistics
import sys
import time

import torch

scale = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[1] == "--scale" else 1
dev = "cuda" if torch.cuda.is_available() else "cpu"


def sync():
    if dev == "cuda":
        torch.cuda.synchronize()


def timed(fn, reps):
    fn()
    sync()
    t = []
    for _ in range(reps):
        s = time.perf_counter()
        fn()
        sync()
        t.append(time.perf_counter() - s)
    return statistics.median(t)


def report(name, s, value, unit):
    print("%s\t%.6g\t%.4g\t%s" % (name, s, value, unit))


def print_device():
    print("#device\t%s" % (torch.cuda.get_device_name() if dev == "cuda" else "cpu"))
