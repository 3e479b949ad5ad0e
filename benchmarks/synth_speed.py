"""Images per second of the synthetic-people renderer on one core (no file writing).

.venv/bin/python benchmarks/synth_speed.py [--size 128] [--count 500]
"""

from __future__ import annotations

import argparse
import os
import time

# One core, as a data-loader worker would get: keep numpy/cv2 from spreading out.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402

from training.synth import sample, sample_pair  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--count", type=int, default=500)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    for size in args.size:
        sample(0, size)  # warm-up
        t = time.perf_counter()
        for i in range(args.count):
            sample(i, size)
        dt = time.perf_counter() - t
        t = time.perf_counter()
        n_pairs = max(args.count // 4, 1)
        for i in range(n_pairs):
            sample_pair(i, size)
        dp = time.perf_counter() - t
        print(
            f"size {size}: {args.count / dt:7.1f} img/s (sample), {n_pairs / dp:7.1f} pairs/s (sample_pair), one core"
        )


if __name__ == "__main__":
    main()
