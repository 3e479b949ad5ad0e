"""How much of the person's own limb does a drag leave, carried or rendered?

    python benchmarks/carried_limbs.py [--photos DIR] [--checkpoint CKPT] [--json OUT]

For every photo in DIR (default: tests/data/photos) whose person shows a full torso, three
edits users make (the right arm raised beside the head, the right forearm swung 70 degrees
about the elbow, a step out with the right leg) are composited as the app shows them with the
person's own look (the kept region on), once with the moved limbs carried from the photo
(`kept.carried_limbs`, the app's default) and once rendered (View ▸ Carry moved limbs, off).
Only the edits whose moved bones the photo shows at both ends count. Reported per edit and
in total, over the moved bones where they now lie:
  off_own     the mean absolute difference (0-255, per channel) between the pixels along each
              moved bone (from a quarter to three quarters of its length, on the bone and a
              twentieth of the person's size either side) and the photo's own pixels at the
              same places along the bone as found: 0 is the photo's own limb;
  sharpness   the variance of the Laplacian of the grey band along the moved bones (the
              photo's own limbs, along the bones as found, given for scale);
  ms          `carried_limbs`' own cost per frame at the photo's resolution (median of 20,
              after the first frame of a drag, which cuts the limbs once).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from repose_sheet import bent_elbow, median_ms, photo_benchmark, raised_arm, step, write_rows  # noqa: E402

log = logging.getLogger("carried_limbs")
EDITS = {"arm raised": raised_arm, "elbow bent": bent_elbow, "a step": step}


def _samples(pose: Any, bones: list[tuple[str, str]], size: float) -> np.ndarray:
    """(n, 2) points along `bones` of `pose`: a quarter to three quarters of the way, on the
    bone and a twentieth of `size` either side of it."""
    from vunet_studio.skeleton import JOINT_INDEX

    out = []
    for a, b in bones:
        p, q = pose.xy[JOINT_INDEX[a]].astype(np.float64), pose.xy[JOINT_INDEX[b]].astype(np.float64)
        d = q - p
        n = np.array([-d[1], d[0]]) / max(1e-6, float(np.hypot(*d)))
        for t in np.linspace(0.25, 0.75, 11):
            for o in (-0.05, 0.0, 0.05):
                out.append(p + t * d + o * size * n)
    return np.array(out)


def _read(image: np.ndarray, pts: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    x = np.clip(np.round(pts[:, 0]).astype(int), 0, w - 1)
    y = np.clip(np.round(pts[:, 1]).astype(int), 0, h - 1)
    return image[y, x].astype(np.float32)


def _band_sharpness(image: np.ndarray, pose: Any, bones: list[tuple[str, str]], size: float) -> float:
    from vunet_studio.skeleton import JOINT_INDEX

    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)
    band = np.zeros(grey.shape, np.uint8)
    for a, b in bones:
        p, q = (tuple(round(float(v)) for v in pose.xy[JOINT_INDEX[n]]) for n in (a, b))
        cv2.line(band, p, q, 1, max(1, round(0.06 * size)))
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    return float(lap[band > 0].var()) if band.any() else float("nan")


def main(argv: list[str] | None = None) -> int:
    args, engine, people = photo_benchmark(__doc__ or "", argv, REPO / "tests" / "data" / "photos")
    from vunet_studio.composite import repose
    from vunet_studio.engine import AppearanceImage
    from vunet_studio.framing import pose_box
    from vunet_studio.imageio import as_rgb_uint8, is_grey
    from vunet_studio.kept import CARRIED, STILL, KeptSource, carried_limbs, moved_joints
    from vunet_studio.segmentation import person_height
    from vunet_studio.skeleton import JOINT_INDEX

    rows: list[dict[str, Any]] = []
    for person in people:
        path, image, pose, mask, scene = person.path, person.image, person.pose, person.mask, person.scene
        rgb = as_rgb_uint8(image)
        own = engine.encode(AppearanceImage(image, pose))
        box = pose_box(pose)
        size = person_height(pose)
        for name, edit in EDITS.items():
            target = edit(pose)
            moved = moved_joints(pose, target, STILL * box.side)

            seen = pose.visible & target.visible
            bones = [
                (a, b)
                for a, b, _ in CARRIED
                if seen[JOINT_INDEX[a]] and seen[JOINT_INDEX[b]] and (moved[JOINT_INDEX[a]] or moved[JOINT_INDEX[b]])
            ]
            if not bones:
                log.info("%-16s %-10s: no moved bone seen at both ends", path.name, name)
                continue
            kept = KeptSource.of(image, mask, pose)
            assert kept is not None
            row: dict[str, Any] = {
                "photo": path.name,
                "edit": name,
                "bones": len(bones),
                "own_sharp": _band_sharpness(rgb, pose, bones, size),
            }
            truth = _read(rgb, _samples(pose, bones, size))
            for label, source in (("carried", kept), ("rendered", replace(kept, limbs=False))):
                done = repose(engine, own, target, scene, box, grey=is_grey(image), kept=source)
                assert done.image is not None
                shown = as_rgb_uint8(done.image)
                row[f"{label}_off_own"] = float(np.abs(_read(shown, _samples(target, bones, size)) - truth).mean())
                row[f"{label}_sharp"] = _band_sharpness(shown, target, bones, size)
            fresh = KeptSource.of(image, mask, pose)
            assert fresh is not None
            rect = (0, 0, image.shape[1], image.shape[0])
            carried_limbs(fresh, target, rect, scale=1.0, box_side=box.side)  # the drag's first frame
            row["ms"] = median_ms(partial(carried_limbs, fresh, target, rect, scale=1.0, box_side=box.side), 20)
            rows.append(row)
            log.info(
                "%-16s %-10s %d bones: off the own limb %5.1f carried, %5.1f rendered; sharpness %5.0f / %5.0f (own %5.0f); %.2f ms",
                path.name, name, len(bones), row["carried_off_own"], row["rendered_off_own"],
                row["carried_sharp"], row["rendered_sharp"], row["own_sharp"], row["ms"],
            )  # fmt: skip
    if not rows:
        print("no edit moved a bone the photos show at both ends")
        return 1
    n = len(rows)
    print(f"{n} edits of {len({r['photo'] for r in rows})} photos")
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k not in ("photo", "edit", "bones")}
    print(f"off the photo's own limb (0-255, median): carried {med['carried_off_own']:.1f}, rendered {med['rendered_off_own']:.1f}")
    print(
        f"limb sharpness (median): carried {med['carried_sharp']:.0f}, rendered {med['rendered_sharp']:.0f} "
        f"(the photos' own limbs: {med['own_sharp']:.0f})"
    )
    closer = sum(r["carried_off_own"] < r["rendered_off_own"] for r in rows)
    print(f"carried closer to the own limb than rendered: {closer}/{n}")
    print(f"carried limbs, per frame at the photo's size: median {med['ms']:.2f} ms, max {max(r['ms'] for r in rows):.2f} ms")
    write_rows(args.json, rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
