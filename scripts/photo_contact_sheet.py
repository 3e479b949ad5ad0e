"""Contact sheet of the real photos (docs/photos_contact_sheet.png): photo | skeleton | person
mask | empty scene, one row per person found, to see what the app understands of real photos.

The pose comes from the project's estimation chain (a pose file beside the photo, openpifpaf
when its checkpoint is here, else the bundled BlazePose), the mask and the empty scene from
`vunet_studio.segmentation` and `vunet_studio.scene`, exactly as the app computes them.

.venv/bin/python scripts/photo_contact_sheet.py [--photos DIR] [--out PATH] [--height PX]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import cv2
import numpy as np

from vunet_studio.estimation import create_chain, find_people
from vunet_studio.exports import write_image
from vunet_studio.imageio import is_image_path, load_image
from vunet_studio.pose import Pose
from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import segment_person
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES, LIMBS

log = logging.getLogger(__name__)

RIGHT, LEFT, CENTRE = (235, 64, 52), (46, 204, 64), (66, 135, 245)  # the canvas's side colours
TINT = np.array((255, 40, 150), np.float32)
LABEL_H = 22


def _colour(*names: str) -> tuple[int, int, int]:
    sides = {n[0] for n in names} - {"c"}
    side = next(iter(sides)) if len(sides) == 1 else "c"
    return RIGHT if side == "r" else LEFT if side == "l" else CENTRE


def draw_skeleton(rgb: np.ndarray, pose: Pose) -> np.ndarray:
    """The photo, dimmed, with the pose's bones and joints drawn over it."""
    out = (rgb.astype(np.float32) * 0.6).astype(np.uint8)
    t = max(2, round(max(rgb.shape[:2]) / 200))
    for a, b in LIMBS:
        ia, ib = JOINT_INDEX[a], JOINT_INDEX[b]
        if pose.visible[ia] and pose.visible[ib]:
            pa = tuple(int(v) for v in pose.xy[ia])
            pb = tuple(int(v) for v in pose.xy[ib])
            cv2.line(out, pa, pb, _colour(a, b), t, cv2.LINE_AA)
    for j, name in enumerate(JOINT_NAMES):
        if pose.visible[j]:
            p = tuple(int(v) for v in pose.xy[j])
            cv2.circle(out, p, t + 2, _colour(name), -1, cv2.LINE_AA)
            cv2.circle(out, p, t + 2, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def tint_mask(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The photo greyed, the mask tinted over it, light enough to see the outline against the
    person (soft values show as lighter tint)."""
    grey = rgb.astype(np.float32).mean(axis=2, keepdims=True) * 0.7
    a = mask[:, :, None] * 0.55
    return (grey * (1 - a) + TINT * a).astype(np.uint8)


def _fit(img: np.ndarray, height: int) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * height / h)), height), interpolation=cv2.INTER_AREA)


def _label(width: int, text: str) -> np.ndarray:
    strip = np.full((LABEL_H, width, 3), 32, np.uint8)
    cv2.putText(
        strip, text, (6, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (235, 235, 235), 1, cv2.LINE_AA
    )
    return strip


def sheet_rows(photos: list[Path], height: int) -> list[np.ndarray]:
    chain = create_chain()
    rows: list[np.ndarray] = []
    for path in photos:
        rgb = load_image(path)
        found = find_people(rgb, path, chain)
        people = found.poses if found.origin != "template" else [None]
        for k, pose in enumerate(people):
            seg = segment_person(rgb, pose)
            scene = empty_scene(rgb, seg.mask)
            who = f"person {k + 1} of {len(people)}" if len(people) > 1 else "person"
            by = found.source if pose is not None else f"no pose: {found.reason}"
            log.info(
                "%s %s: pose by %s (%.0f ms), mask by %s (%.0f ms)%s, empty scene %.0f ms",
                path.name, who, by, found.ms, seg.method, seg.ms, f" ({seg.note})" if seg.note else "", scene.ms,
            )  # fmt: skip
            panels = [
                rgb,
                draw_skeleton(rgb, pose) if pose is not None else rgb,
                tint_mask(rgb, seg.mask),
                scene.image,
            ]
            row = np.concatenate([_fit(p, height) for p in panels], axis=1)
            text = f"{path.name}, {who}: pose {by} | mask {seg.method} {seg.ms:.0f} ms | empty scene {scene.ms:.0f} ms"
            rows.append(np.concatenate([row, _label(row.shape[1], text)], axis=0))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "photos")
    ap.add_argument("--out", type=Path, default=Path("docs/photos_contact_sheet.png"))
    ap.add_argument("--height", type=int, default=200, help="height of each panel, pixels")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    photos = sorted(p for p in args.photos.iterdir() if p.is_file() and is_image_path(p))
    if not photos:
        log.error("no photos in %s", args.photos)
        return 1
    rows = sheet_rows(photos, args.height)
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 2), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, sheet, compress_level=9)
    log.info("wrote %s (%d rows)", args.out, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
