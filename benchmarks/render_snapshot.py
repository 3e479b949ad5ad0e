"""Renders of held-out pairs through the app's engine, saved or compared: a refactoring's check
that the pictures did not change.

    python benchmarks/render_snapshot.py save before.npz [--pairs data/pairs500] [--count 20]
    python benchmarks/render_snapshot.py compare before.npz after.npz

`save` encodes each pair's appearance person and renders the target pose with the default
box, one thread, the app's number format, and keeps each render's image, box and alpha.
`compare` prints how many arrays are bit-identical and the largest difference.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch


def save(out: Path, pairs: Path, count: int) -> int:
    from training.pairs import find_pairs, load_pair
    from vunet_studio.engine import AppearanceImage, RenderEngine

    torch.set_num_threads(1)
    engine = RenderEngine(warmup=False, threads=1)
    arrays: dict[str, np.ndarray] = {}
    for d in find_pairs(pairs)[:count]:
        pair = load_pair(d)
        if pair is None:
            continue
        render = engine.render(engine.encode(AppearanceImage(pair.appearance, pair.appearance_pose)), pair.target_pose)
        arrays[f"{pair.name}_img"] = render.image
        arrays[f"{pair.name}_box"] = np.array(render.box)
        if render.alpha is not None:
            arrays[f"{pair.name}_alpha"] = render.alpha
    np.savez_compressed(out, **arrays)
    print(f"saved {len(arrays)} arrays ({engine.precision}) to {out}")
    return 0


def compare(a_path: Path, b_path: Path) -> int:
    a, b = np.load(a_path), np.load(b_path)
    if set(a.files) != set(b.files):
        print(f"different arrays: {sorted(set(a.files) ^ set(b.files))}")
        return 1
    diffs = [float(np.abs(a[k].astype(np.float64) - b[k].astype(np.float64)).max()) for k in a.files]
    same = sum(d == 0.0 for d in diffs)
    print(f"{len(diffs)} arrays, {same} bit-identical, max abs diff {max(diffs, default=0.0)}")
    return 0 if same == len(diffs) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("save")
    s.add_argument("out", type=Path)
    s.add_argument("--pairs", type=Path, default=Path("data/pairs500"))
    s.add_argument("--count", type=int, default=20)
    c = sub.add_parser("compare")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    args = ap.parse_args(argv)
    return save(args.out, args.pairs, args.count) if args.cmd == "save" else compare(args.a, args.b)


if __name__ == "__main__":
    sys.exit(main())
