"""Images per second of the synthetic-people renderer on one core (no file writing).

.venv/bin/python benchmarks/synth_speed.py [--size 128 256] [--count 500] [--textures DIR]

Three rows per size: plain people (the reference configs), every realistic option at
its `training/configs/realistic128.yaml` probability with the photos of --textures (default
$VUNET_TEXTURES or data/textures), and the same with procedural textures (no photos).
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from dataclasses import replace

# One core, as a data-loader worker would get: keep numpy/cv2 from spreading out.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2

from training.synth import REALISTIC, Realism, sample, sample_pair

log = logging.getLogger("synth_speed")


def rate(size: int, count: int, realism: Realism | None) -> tuple[float, float]:
    sample(0, size, realism=realism)  # warm-up (and texture cache)
    t = time.perf_counter()
    for i in range(count):
        sample(i, size, realism=realism)
    dt = time.perf_counter() - t
    n_pairs = max(count // 4, 1)
    t = time.perf_counter()
    for i in range(n_pairs):
        sample_pair(i, size, realism=realism)
    return count / dt, n_pairs / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs="+", default=[128, 256])
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--textures", default=None, help="photo folder (default: $VUNET_TEXTURES, data/textures)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setNumThreads(1)
    with tempfile.TemporaryDirectory() as empty:
        variants = {
            "plain": None,
            "realistic, photos": replace(REALISTIC, texture_dir=args.textures),
            # An empty folder: no photos, so the procedural stand-ins.
            "realistic, procedural": replace(REALISTIC, texture_dir=empty),
        }
        for size in args.size:
            for name, realism in variants.items():
                img_s, pair_s = rate(size, args.count, realism)
                log.info(
                    "size %d, %-22s %7.1f img/s (sample), %6.1f pairs/s (sample_pair), one core",
                    size,
                    name + ":",
                    img_s,
                    pair_s,
                )


if __name__ == "__main__":
    main()
