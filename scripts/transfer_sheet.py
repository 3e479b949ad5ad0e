"""A contact sheet of held-out re-posing transfers: appearance | target stickman | render | ground truth.

    python scripts/transfer_sheet.py --checkpoint resources/models/vunet_synth128.safetensors \
        --pairs data/pairs500 --count 32 -o docs/transfers.png
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from training.pairs import find_pairs, load_pair
from vunet_studio.exports import write_image
from vunet_studio.model import load_checkpoint
from vunet_studio.model_inputs import appearance_input, shape_input, tensor_to_image

logger = logging.getLogger("transfer_sheet")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", required=True, type=Path)
    ap.add_argument("--pairs", required=True, type=Path)
    ap.add_argument("--count", type=int, default=32)
    ap.add_argument("--columns", type=int, default=2, help="groups of four images per row")
    ap.add_argument("-o", "--out", required=True, type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    model, info = load_checkpoint(args.checkpoint)
    cfg = model.config
    size = cfg.image_size
    tiles: list[np.ndarray] = []
    with torch.no_grad():
        for d in find_pairs(args.pairs)[: args.count]:
            pair = load_pair(d)
            if pair is None:
                continue
            parts = appearance_input(pair.appearance, pair.appearance_pose, cfg)  # (C, P, P)
            stick = shape_input(pair.target_pose, parts, cfg)[None]  # (1, 3 or 7, S, S)
            render = tensor_to_image(model.transfer(parts[None], stick))[0]  # (S, S, 3)
            stick_img = tensor_to_image(stick[:, :3])[0]  # the stickman alone
            row = [cv2.resize(im, (size, size)) for im in (pair.appearance, stick_img, render, pair.target)]
            tiles.append(np.concatenate(row, axis=1))
    cols = args.columns
    gap = np.full((size, 8, 3), 255, np.uint8)
    rows = []
    for i in range(0, len(tiles), cols):
        group = tiles[i : i + cols] + [np.zeros_like(tiles[0])] * (cols - len(tiles[i : i + cols]))
        rows.append(np.concatenate([x for t in group for x in (t, gap)][:-1], axis=1))
    sheet = np.concatenate(rows, axis=0)
    write_image(args.out, sheet)
    logger.info("wrote %s: %d transfers from %s (step %d)", args.out, len(tiles), args.checkpoint, info.step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
