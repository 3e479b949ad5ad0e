"""Training throughput (images/s) of the real training step on this machine.

    .venv/bin/python benchmarks/train_throughput.py [--size 128] [--batch 16] [--steps 5] [--json OUT]

Runs `Trainer._train_step` (forward, loss, backward, Adam) of the official-width model on a
fixed synthetic batch, for each variant: fp32 and bf16 autocast, NCHW and channels_last.
Warm-up steps are not timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.config import TrainConfig
from training.data import FixedSynthDataset, collate
from training.trainer import Trainer
from vunet_studio.fileio import atomic_write_text

VARIANTS = [("fp32", "none", False), ("fp32", "none", True), ("bf16", "bf16", False), ("bf16", "bf16", True)]


def measure(
    size: int, batch: int, steps: int, warmup: int, amp: str, channels_last: bool, device: str
) -> float:
    cfg = TrainConfig.from_dict(
        {
            "model": {"image_size": size},
            "loss": {"kind": "pixel"},
            "train": {"batch_size": batch, "amp": amp, "channels_last": channels_last, "device": device},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        ds = FixedSynthDataset(cfg.model.build(), batch)
        trainer = Trainer(cfg, tmp, dataset=ds, tensorboard=False)
        b = collate([ds[i] for i in range(batch)])
        trainer.model.train()
        for _ in range(warmup):
            trainer._train_step(b)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer._train_step(b)
        if trainer.device.type == "cuda":
            torch.cuda.synchronize()
        return steps * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", choices=[f"{n}{'-cl' if cl else ''}" for n, _, cl in VARIANTS], nargs="*")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = []
    for name, amp, cl in VARIANTS:
        label = f"{name}{'-cl' if cl else ''}"
        if args.only and label not in args.only:
            continue
        ips = measure(args.size, args.batch, args.steps, args.warmup, amp, cl, args.device)
        results.append({"variant": name, "channels_last": cl, "images_per_s": ips})
        print(
            f"{args.size}px batch {args.batch} {name:5s} channels_last={cl!s:5s}: {ips:7.2f} images/s",
            flush=True,
        )
    report = {
        "size": args.size,
        "batch": args.batch,
        "steps": args.steps,
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": results,
    }
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
