"""Shared measuring for the benchmarks: interleaved timing and peak memory, ours vs a reference."""

from __future__ import annotations

import os
import resource
import statistics
import time
from collections.abc import Callable

import torch


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(a: Callable[[], None], b: Callable[[], None], rounds: int, device: str = "cpu"
                ) -> tuple[float, float, float, float]:
    """Median and best time of each, run in alternating order (a b, b a, ...) after a warm-up."""
    ta, tb = [], []
    for f in (a, b):
        f()
    for r in range(rounds):
        for f in ((a, b) if r % 2 == 0 else (b, a)):
            sync(device)
            t0 = time.perf_counter()
            f()
            sync(device)
            (ta if f is a else tb).append(time.perf_counter() - t0)
    return statistics.median(ta), statistics.median(tb), min(ta), min(tb)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_mb(f: Callable[[], None], device: str = "cpu") -> float:
    """Memory one call of f needs above what is held before it, in MB. On CUDA from the allocator's
    peak; on CPU from the high-water RSS of a forked child that runs f once (the parent's memory is
    untouched, so the two sides are measured the same way)."""
    if device.startswith("cuda"):
        sync(device)
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        f()
        sync(device)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    if torch.get_num_threads() != 1:  # a forked child of a process with a thread pool can deadlock
        raise RuntimeError("peak_mb forks: call torch.set_num_threads(1) before any computation")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: measure, report, leave without running the parent's handlers
        os.close(r)
        start = _rss_bytes()
        f()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        os.write(w, str(max(0, peak - start)).encode())
        os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    return int(data or b"0") / 2**20
