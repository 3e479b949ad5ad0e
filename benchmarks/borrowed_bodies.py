"""Does another photo's look come out as that photo's clothes?

    python benchmarks/borrowed_bodies.py [--photos DIR] [--checkpoint CKPT] [--json OUT]

For every ordered pair (A, B) of the photos in DIR (default: tests/data/photos) whose person
shows a full torso, A's person is given B's look, in A's photo and A's pose, as the app shows
it (View ▸ Use its look): rendered in A's stable box, composited onto A's empty scene, B's
head carried onto the pose, and once with B's torso and limbs carried too (`vunet_studio.
borrowed.borrowed_body`, the app's default) and once without (View ▸ Carry the look photo's
body, off: the model's render of them). Reported per pair and in total:
  d_look      colour distance (mean CIE76 Delta E of torso, arms, thighs and shins, sampled
              along the bones: `training.photo_eval.bone_colours`) of the shown person to
              B's own, and the ratio of that to the distance to the other photos' people
              (lower is better: issue 17's appearance fidelity, on what the app shows; a
              portrait without hips has no such colours, and a grey photo's person is grey);
  sharpness   the variance of the Laplacian of the grey person inside the render's alpha,
              the head left out (a blur scores low; A's own person is given for scale);
  ms          `composite.with_borrowed`'s cost per frame at the photo's resolution, body
              and head against the head alone (median of 10).
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

from repose_sheet import median_ms, photo_benchmark, write_rows  # noqa: E402

log = logging.getLogger("borrowed_bodies")


def _sharpness(image: np.ndarray, where: np.ndarray) -> float:
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return float(lap[where].var()) if where.any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    args, engine, people = photo_benchmark(__doc__ or "", argv, REPO / "tests" / "data" / "photos")
    from training.photo_eval import bone_colours, colour_distance
    from vunet_studio.borrowed import LookSource
    from vunet_studio.composite import composite, repose, with_borrowed
    from vunet_studio.engine import AppearanceImage
    from vunet_studio.framing import pose_box
    from vunet_studio.imageio import is_grey
    from vunet_studio.segmentation import head_disc

    own_colours = {p.path.name: bone_colours(p.image, p.pose, p.mask > 0.5) for p in people}
    rows: list[dict[str, Any]] = []
    for a in people:  # one block per photo A
        grey = is_grey(a.image)
        for b in people:
            if b.path == a.path:
                continue
            look = engine.encode(AppearanceImage(b.image, b.pose))
            row: dict[str, Any] = {"photo": a.path.name, "look": b.path.name}
            for label, body in (("carried", True), ("rendered", False)):
                source = LookSource.of(b.image, b.mask, b.pose, body=body)
                done = repose(engine, look, a.pose, a.scene, pose_box(a.pose), grey=grey, borrowed=source)
                assert done.image is not None
                # Where the render says the person is, in the photo's frame.
                s = done.alpha.mask.shape[0]
                white = np.full((s, s, 3), 255, np.uint8)
                person = composite(np.zeros_like(a.image), white, done.alpha.mask, done.render.box)[..., 0] > 127
                body_only = person.copy()
                disc = head_disc(a.pose)
                if disc is not None:
                    (cx, cy), r = disc
                    cv2.circle(body_only.view(np.uint8), (round(cx), round(cy)), round(1.5 * r), 0, -1)
                seen = bone_colours(done.image, a.pose, person)
                own = colour_distance(seen, own_colours[b.path.name])
                others = np.nanmean(
                    [colour_distance(seen, c) for name, c in own_colours.items() if name != b.path.name]
                )
                row[f"{label}_d_look"] = own
                row[f"{label}_ratio"] = own / others if others > 0 else float("nan")
                row[f"{label}_sharp"] = _sharpness(done.image, body_only)
                row.setdefault("own_sharp", _sharpness(a.image, body_only))
                if source is not None:
                    tile = (np.zeros((8, 8, 3), np.uint8), 0, 0)
                    frame = partial(with_borrowed, tile, a.scene, source, a.pose, scale=1.0, grey=grey)
                    row[f"{label}_ms"] = median_ms(frame, 10)
            rows.append(row)
            log.info(
                "%-16s look of %-16s colour off the look %5.1f carried, %5.1f rendered; sharpness %5.0f / %5.0f",
                a.path.name, b.path.name, row["carried_d_look"], row["rendered_d_look"],
                row["carried_sharp"], row["rendered_sharp"],
            )  # fmt: skip
    n = len(rows)
    print(f"{n} re-posings with another photo's look ({len(people)} photos)")
    for key, what in (("d_look", "colour off the look photo's person (Delta E)"), ("ratio", "own / others")):
        c, r = (float(np.nanmedian([row[f"{k}_{key}"] for row in rows])) for k in ("carried", "rendered"))
        print(f"median {what}: body carried {c:.3f}, rendered {r:.3f}")
    measured = [r for r in rows if np.isfinite(r["carried_d_look"]) and np.isfinite(r["rendered_d_look"])]
    closer = sum(r["carried_d_look"] < r["rendered_d_look"] for r in measured)
    print(f"body carried closer to the look than rendered: {closer} of {len(measured)} with colours to compare")
    sc, sr = (float(np.nanmedian([row[f"{k}_sharp"] for row in rows])) for k in ("carried", "rendered"))
    so = float(np.nanmedian([row["own_sharp"] for row in rows]))
    print(f"median body sharpness: carried {sc:.0f}, rendered {sr:.0f} (the photos' own people: {so:.0f})")
    for k in ("carried", "rendered"):
        ms = [row[f"{k}_ms"] for row in rows if f"{k}_ms" in row]
        if ms:
            print(f"with_borrowed per frame, body {k}: median {np.median(ms):.2f} ms, max {max(ms):.2f} ms")
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
