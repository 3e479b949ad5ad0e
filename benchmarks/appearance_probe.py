"""Does a model's appearance latent know the clothes' colour? A linear probe on F_phi's output.

    .venv/bin/python benchmarks/appearance_probe.py resources/models/vunet_synth128.safetensors [more.safetensors]

For synthetic people (seeds never used in training), ridge regression from the posterior
means (spatial means and all positions) to the torso's colour, split into luminance (the
channel mean) and chroma (the colour minus its grey), fitted on the first 80% and scored on the
rest. Prints the mean absolute error (0-255) against predicting the training mean. A latent
whose chroma error is no better than the constant is colour-blind: no decoder can put the
right hue on the clothes from it (the first default model was: docs/model_card.md).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import torch

from training.data import SynthDataset, collate
from vunet_studio.model import load_checkpoint

logger = logging.getLogger("appearance_probe")


def torso_colour(parts: torch.Tensor) -> torch.Tensor:
    """(B, C, P, P) appearance input -> (B, 3) mean colour of the torso crop's centre, [-1, 1]."""
    p = parts.shape[-1]
    c = slice(3 * p // 8, 5 * p // 8)
    return parts[:, 0:3, c, c].mean(dim=(2, 3))


def ridge_error(x: np.ndarray, y: np.ndarray, split: int) -> tuple[float, float]:
    """(probe MAE, constant MAE) on rows split: of y, the best ridge strength of a few."""
    mu, sd = x[:split].mean(0), x[:split].std(0) + 1e-6
    a = (x - mu) / sd
    y0 = y[:split].mean(0)
    best = float("inf")
    for lam in (1.0, 10.0, 100.0, 1000.0):
        w = np.linalg.solve(a[:split].T @ a[:split] + lam * np.eye(a.shape[1]), a[:split].T @ (y[:split] - y0))
        best = min(best, float(np.abs(a[split:] @ w + y0 - y[split:]).mean()))
    return best * 127.5, float(np.abs(y[split:] - y0).mean()) * 127.5


def probe(checkpoint: Path, samples: int, seed: int) -> dict[str, tuple[float, float]]:
    model, _ = load_checkpoint(checkpoint)
    model.eval().float()
    data = SynthDataset(model.config, seed=seed)
    feats, colours = [], []
    with torch.no_grad():
        for start in range(0, samples, 64):
            batch = collate([data[i] for i in range(start, min(samples, start + 64))])
            means = model.encode_appearance(batch["parts"])
            feats.append(torch.cat([m.mean(dim=(2, 3)) for m in means] + [m.flatten(1) for m in means], 1))
            colours.append(torso_colour(batch["parts"]))
    x = torch.cat(feats).double().numpy()
    col = torch.cat(colours).double().numpy()
    lum = col.mean(1, keepdims=True)
    split = int(0.8 * len(x))
    return {"luminance": ridge_error(x, lum, split), "chroma": ridge_error(x, col - lum, split)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", type=Path)
    ap.add_argument("--samples", type=int, default=1024)
    ap.add_argument("--seed", type=int, default=5_000_000, help="first synthetic person (unseen in training)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(1)
    logger.info("%-50s %22s %22s", "checkpoint", "luminance MAE (const)", "chroma MAE (const)")
    for ck in args.checkpoints:
        r = probe(ck, args.samples, args.seed)
        logger.info(
            "%-50s %13.1f (%5.1f) %13.1f (%5.1f)", ck, *r["luminance"], *r["chroma"]
        )


if __name__ == "__main__":
    main()
