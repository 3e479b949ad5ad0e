"""How sharp is the re-posed person's head, with another photo's look?

    python benchmarks/borrowed_faces.py [--photos DIR] [--checkpoint CKPT] [--json OUT]

For every ordered pair (A, B) of the photos in DIR (default: tests/data/photos) whose person
shows a full torso, A's person is given B's look and an arm raised, in A's photo, as the app
shows it: rendered in A's stable box, composited onto A's empty scene, once with B's head
carried onto the pose (`vunet_studio.borrowed`, the app's default) and once without (View ▸
Carry the look photo's head, off). Reported per pair and in total:
  sharpness   the variance of the Laplacian of the grey head disc's square (a blur scores
              low; the photo's own head at the same place is given for scale);
  ms          the borrowed head's own cost per frame at the photo's resolution
              (`composite.with_borrowed`, median of 20).
"""

from __future__ import annotations

import logging
import sys
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from repose_sheet import median_ms, photo_benchmark, raised_arm, write_rows  # noqa: E402

log = logging.getLogger("borrowed_faces")


def _sharpness(image: np.ndarray, disc: tuple[tuple[float, float], float]) -> float:
    (cx, cy), r = disc
    h, w = image.shape[:2]
    x0, y0, x1, y1 = (max(0, round(cx - r)), max(0, round(cy - r)), min(w, round(cx + r)), min(h, round(cy + r)))
    grey = cv2.cvtColor(np.ascontiguousarray(image[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def main(argv: list[str] | None = None) -> int:
    args, engine, people = photo_benchmark(__doc__ or "", argv, REPO / "tests" / "data" / "photos")
    from vunet_studio.borrowed import LookSource
    from vunet_studio.composite import repose, with_borrowed
    from vunet_studio.engine import AppearanceImage
    from vunet_studio.framing import pose_box
    from vunet_studio.imageio import is_grey
    from vunet_studio.segmentation import head_disc

    rows: list[dict[str, Any]] = []
    for a in people:  # one block per photo A
        target = raised_arm(a.pose)
        disc = head_disc(target)
        assert disc is not None  # every photo here shows a face
        own = _sharpness(a.image, disc)
        for b in people:
            if b.path == a.path:
                continue
            look = engine.encode(AppearanceImage(b.image, b.pose))
            head = LookSource.of(b.image, b.mask, b.pose, body=False)  # the head alone
            grey = is_grey(a.image)
            row: dict[str, Any] = {"photo": a.path.name, "look": b.path.name, "own_sharp": own}
            for label, borrowed in (("carried", head), ("rendered", None)):
                done = repose(engine, look, target, a.scene, pose_box(a.pose), grey=grey, borrowed=borrowed)
                assert done.image is not None
                row[f"{label}_sharp"] = _sharpness(done.image, disc)
            if head is not None:
                tile = (np.zeros((8, 8, 3), np.uint8), 0, 0)
                row["ms"] = median_ms(partial(with_borrowed, tile, a.scene, head, target, scale=1.0, grey=grey), 20)
            rows.append(row)
            log.info(
                "%-16s look of %-16s head sharpness %6.0f carried, %6.0f rendered (the photo's own: %.0f)",
                a.path.name, b.path.name, row["carried_sharp"], row["rendered_sharp"], own,
            )  # fmt: skip
    n = len(rows)
    print(f"{n} re-posings with another photo's look ({len(people)} photos)")
    sharp_c, sharp_r = (float(np.median([r[f"{k}_sharp"] for r in rows])) for k in ("carried", "rendered"))
    sharp_own = float(np.median([r["own_sharp"] for r in rows]))
    better = sum(r["carried_sharp"] > 2 * r["rendered_sharp"] for r in rows)
    print(f"median head sharpness: carried {sharp_c:.0f}, rendered {sharp_r:.0f} (the photos' own heads: {sharp_own:.0f})")
    print(f"carried sharper than rendered by 2x or more: {better}/{n}")
    ms = [r["ms"] for r in rows if "ms" in r]
    if ms:
        print(f"borrowed head, per frame at the photo's size: median {np.median(ms):.2f} ms, max {max(ms):.2f} ms")
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
