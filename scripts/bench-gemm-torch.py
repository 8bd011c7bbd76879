#!/usr/bin/env python3
"""PyTorch side of `cargo bench --bench gemm`: f32 `x @ W.T` (PyTorch's linear layout) at the same
shapes, median of repeated runs. Env: AWPO_BENCH_THREADS (torch threads; default all)."""
import os
import time

import torch

if "AWPO_BENCH_THREADS" in os.environ:
    torch.set_num_threads(int(os.environ["AWPO_BENCH_THREADS"]))
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
print("| x · W | layout of W | ms | GFLOP/s |")
print("|---|---|---:|---:|")
for m, k, n in [(1, 576, 1536), (16, 576, 1536), (64, 576, 1536), (16, 576, 49152), (1024, 576, 1536)]:
    x, w = torch.randn(m, k), torch.randn(n, k)
    reps = 5 if m >= 1024 else 30
    x @ w.T
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        x @ w.T
        times.append(time.perf_counter() - t0)
    ms = sorted(times)[len(times) // 2] * 1e3
    print(f"| [{m}, {k}] · [{k}, {n}] (PyTorch) | [out, in], x · Wᵀ | {ms:.2f} | {2 * m * k * n / ms / 1e6:.1f} |")
