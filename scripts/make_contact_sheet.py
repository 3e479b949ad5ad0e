"""Contact sheet of synthetic people (docs/synth_contact_sheet.png), to eyeball the renderer.

.venv/bin/python scripts/make_contact_sheet.py [--out PATH] [--stickman] [--seed S]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
from PIL import Image

from training.synth import sample
from vunet_studio.stickman import draw_stickman

log = logging.getLogger(__name__)


def contact_sheet(
    seed: int = 0, rows: int = 8, cols: int = 8, size: int = 128, stickman: bool = False, pairs: bool = False
) -> np.ndarray:
    """(rows*size, cols*size, 3) uint8 grid of samples seed, seed+1, ..."""
    sheet = np.zeros((rows * size, cols * size, 3), np.uint8)
    for i in range(rows * cols):
        s = sample(seed + i, size)
        img = s.image
        if stickman:
            st = draw_stickman(s.pose, size, size)
            on = st.max(axis=2) > 0
            img = img.copy()
            img[on] = (0.35 * img[on] + 0.65 * st[on]).astype(np.uint8)
        r, c = divmod(i, cols)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = img
    return sheet


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/synth_contact_sheet.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--stickman", action="store_true", help="draw each pose's stickman over its image")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sheet = contact_sheet(args.seed, args.rows, args.cols, args.size, args.stickman)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, optimize=True)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
