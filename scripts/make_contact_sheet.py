"""Contact sheet of synthetic people (docs/synth_contact_sheet.png), to eyeball the renderer.

.venv/bin/python scripts/make_contact_sheet.py [--out PATH] [--stickman] [--seed S]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from training.synth import sample
from vunet_studio.exports import write_image
from vunet_studio.pose_io import write_openpose
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


def write_samples(out: Path, count: int = 5, size: int = 256, seed: int = 1000) -> list[Path]:
    """A few varied, front-ish sample photos with their poses, kept small for the repository.

    Noisy backgrounds are skipped (they compress badly) and each sample must differ from the
    ones before it in top, bottom and hair, so the set shows the range of people.
    """
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    seen: set[tuple[str, str, str]] = set()
    s = seed
    while len(written) < count:
        smp = sample(s, size)
        s += 1
        p = smp.person
        key = (p.top.kind, p.bottom.kind, p.hair.style)
        front = abs((smp.articulation.yaw + np.pi) % (2 * np.pi) - np.pi) < 0.6
        m = smp.mask
        inside = not (m[:2].any() or m[-2:].any() or m[:, :2].any() or m[:, -2:].any())
        if p.scene.kind == "noise" or not front or key in seen or smp.pose.visible.sum() < 16 or not inside:
            continue
        if any(key[0] == k[0] and key[1] == k[1] for k in seen):
            continue
        seen.add(key)
        stem = out / f"synthetic_{len(written) + 1:02d}"
        write_image(stem.with_suffix(".png"), smp.image, compress_level=9)
        write_openpose(stem.with_suffix(".json"), [smp.pose], (size, size))
        log.info("wrote %s.png (seed %d)", stem, s - 1)
        written.append(stem.with_suffix(".png"))
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/synth_contact_sheet.png"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--stickman", action="store_true", help="draw each pose's stickman over its image")
    ap.add_argument("--samples", type=Path, help="write the first-run sample photos to this folder instead")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.samples is not None:
        write_samples(args.samples)
        return 0
    sheet = contact_sheet(args.seed, args.rows, args.cols, args.size, args.stickman)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, sheet, compress_level=9)
    log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
