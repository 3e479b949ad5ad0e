"""Contact sheet of the realistic synthetic people (docs/synth_realistic_sheet.png).

.venv/bin/python scripts/synth_realistic_sheet.py [--out PATH] [--seed S] [--textures DIR]

Rows 1-4: 32 samples with every `training.synth.REALISTIC` option at its training probability.
Rows 5-8: 8 re-posing pairs, each as appearance | target | target mask | target stickman.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from training.synth import REALISTIC, sample, sample_pair
from vunet_studio.exports import write_image
from vunet_studio.stickman import draw_stickman

log = logging.getLogger(__name__)


def sheet(seed: int, size: int = 128, texture_dir: str | None = None) -> np.ndarray:
    r = replace(REALISTIC, texture_dir=texture_dir)
    tiles = [sample(seed + i, size, realism=r).image for i in range(32)]
    for i in range(8):
        a, b = sample_pair(seed + 100 + i, size, realism=r)
        mask = np.repeat((b.mask * 255).astype(np.uint8)[..., None], 3, axis=2)
        tiles += [a.image, b.image, mask, draw_stickman(b.pose, size, size)]
    rows = [np.concatenate(tiles[k : k + 8], axis=1) for k in range(0, len(tiles), 8)]
    return np.concatenate(rows, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/synth_realistic_sheet.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--textures", default=None, help="texture folder (default: $VUNET_TEXTURES, data/textures)"
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_image(args.out, sheet(args.seed, texture_dir=args.textures), compress_level=9)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
