"""Before/after sheet of the real photos re-posed (docs/reposed_photos.png).

One row per photo: the photo | arm raised, before (the square render pasted into its box, as
the app showed it until the composite) | arm raised, the whole person rendered (composited
into the photo's empty scene) | arm raised, as the app shows it (what did not move kept,
the moved limbs carried, `vunet_studio.kept`) | the forearm swung about the elbow, kept | a
step taken, kept | the head tilted, kept (the face carried) | the next photo's pose copied onto
this person ("Copy its pose": its torso laid on theirs; their own limbs, torso and face
carried into it) |
another photo's look on this pose (nothing kept; that photo's head, torso and limbs carried onto the pose,
`vunet_studio.borrowed`). The pose comes from
the estimation chain, the mask and empty scene from the app's own modules, the render from
`RenderEngine` and `composite.repose`: what the app and `render --composite` show.

.venv/bin/python scripts/repose_sheet.py [--checkpoint CKPT] [--photos DIR] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from vunet_studio.borrowed import LookSource
from vunet_studio.composite import repose
from vunet_studio.engine import AppearanceImage, EngineError, RenderEngine
from vunet_studio.estimation import EstimatorChain, create_chain, find_people
from vunet_studio.exports import write_image
from vunet_studio.fileio import atomic_write_text
from vunet_studio.framing import paste, pose_box
from vunet_studio.imageio import is_grey, is_image_path, load_image
from vunet_studio.kept import KeptSource
from vunet_studio.pose import Pose
from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import person_height, segment_person
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.workspace import pose_into_frame

log = logging.getLogger(__name__)
HEIGHT = 240
LABEL_H = 20
COLUMNS = (
    "photo",
    "arm raised: before",
    "arm raised: all rendered",
    "arm raised: kept",
    "elbow bent: kept",
    "a step: kept",
    "head tilted: kept",
    "the next photo's pose: kept",
    "another's look (its head and body carried)",
)


@dataclass(frozen=True)
class PhotoPerson:
    """A photo's person as the app finds them: the pose from the estimation chain, the
    person mask and the empty scene from the app's own modules."""

    path: Path
    image: np.ndarray
    pose: Pose
    mask: np.ndarray
    scene: np.ndarray


def photo_people(folder: Path, chain: EstimatorChain) -> list[PhotoPerson]:
    """The person of every photo in `folder` (by name) that shows a full torso; the others
    are logged as skipped, with why."""
    people = []
    for path in sorted(p for p in folder.iterdir() if is_image_path(p)):
        image = load_image(path)
        found = find_people(image, None, chain)
        if found.origin == "template" or not found.poses[0].renderable():
            log.info("%s: skipped (%s)", path.name, found.reason or "no full torso")
            continue
        pose = found.poses[0]
        mask = segment_person(image, pose).mask
        people.append(PhotoPerson(path, image, pose, mask, empty_scene(image, mask).image))
    return people


def photo_benchmark(
    description: str, argv: list[str] | None, default_photos: Path
) -> tuple[argparse.Namespace, RenderEngine, list[PhotoPerson]]:
    """What the benchmarks over a folder of photos start with (`benchmarks/carried_limbs.py`,
    `borrowed_faces.py`, `borrowed_bodies.py`): their arguments (--photos DIR, default
    `default_photos`; --checkpoint, default the bundled model; --json OUT), the engine on the
    CPU, and each photo's person (`photo_people`), found by the app's estimation chain."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=Path, default=default_photos)
    ap.add_argument("--checkpoint", help="default: the bundled model")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine = RenderEngine(args.checkpoint, device="cpu")
    return args, engine, photo_people(args.photos, create_chain())


def median_ms(run: Callable[[], object], times: int) -> float:
    """The median wall time of `times` calls of `run`, in milliseconds (a per-frame cost)."""
    walls = []
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        walls.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(walls))


def write_rows(path: Path | None, rows: list[dict[str, Any]]) -> None:
    """A benchmark's per-row results as JSON at `path` (atomically); nothing without one."""
    if path is not None:
        atomic_write_text(path, json.dumps(rows, indent=1))


def _drawn(image: np.ndarray | None) -> np.ndarray:
    assert image is not None  # repose() draws the whole frame unless asked not to
    return image


def raised_arm(pose: Pose) -> Pose:
    """The person's right arm swung up beside the head (elbow and wrist rotated about the
    shoulder by ~110 degrees): the edit users try first."""
    xy = pose.xy.copy()
    sh = xy[JOINT_INDEX["rshoulder"]].astype(np.float64)
    a = np.deg2rad(110.0 if xy[JOINT_INDEX["rshoulder"], 0] < xy[JOINT_INDEX["lshoulder"], 0] else -110.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for name in ("relbow", "rwrist"):
        j = JOINT_INDEX[name]
        xy[j] = (sh + rot @ (xy[j] - sh)).astype(np.float32)
    return pose.with_xy(xy)


def bent_elbow(pose: Pose, degrees: float = 70.0) -> Pose:
    """The right forearm swung about the elbow by `degrees`: the wrist dragged alone."""
    xy = pose.xy.copy()
    e = xy[JOINT_INDEX["relbow"]].astype(np.float64)
    a = np.deg2rad(degrees)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    j = JOINT_INDEX["rwrist"]
    xy[j] = (e + rot @ (xy[j] - e)).astype(np.float32)
    return pose.with_xy(xy)


def step(pose: Pose) -> Pose:
    """The right leg stepped out sideways by a fifth of the person's height."""
    xy = pose.xy.copy()
    d = 0.2 * person_height(pose)
    d = -d if xy[JOINT_INDEX["rhip"], 0] < xy[JOINT_INDEX["lhip"], 0] else d
    xy[JOINT_INDEX["rknee"], 0] += 0.5 * d
    xy[JOINT_INDEX["rankle"], 0] += d
    return pose.with_xy(xy)


def tilted_head(pose: Pose, degrees: float = 20.0) -> Pose:
    """The face's joints turned about the neck by `degrees`: the head tilted to one side."""
    xy = pose.xy.astype(np.float64)
    neck = xy[JOINT_INDEX["cneck"]].copy()
    a = np.deg2rad(degrees)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for name in ("cnose", "reye", "leye", "rear", "lear"):
        j = JOINT_INDEX[name]
        xy[j] = neck + turn @ (xy[j] - neck)
    return pose.with_xy(xy.astype(np.float32))


def _fit(img: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * HEIGHT / h)), HEIGHT), interpolation=cv2.INTER_AREA)


def _label(width: int, text: str) -> np.ndarray:
    bar = np.full((LABEL_H, width, 3), 30, np.uint8)
    cv2.putText(bar, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (235, 235, 235), 1, cv2.LINE_AA)
    return bar


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", help="default: the bundled model")
    ap.add_argument("--photos", type=Path, default=Path(__file__).resolve().parents[1] / "tests" / "data" / "photos")
    ap.add_argument("--out", type=Path, default=Path("docs/reposed_photos.png"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine = RenderEngine(args.checkpoint, device="cpu")
    chain = create_chain()
    people = photo_people(args.photos, chain)
    rows = []
    for i, person in enumerate(people):
        path, image, pose, mask, scene = person.path, person.image, person.pose, person.mask, person.scene
        grey = is_grey(image)
        own = engine.encode(AppearanceImage(image, pose))
        nxt = people[(i + 1) % len(people)]
        other_path, other_img, other_pose, other_mask = nxt.path, nxt.image, nxt.pose, nxt.mask
        other = engine.encode(AppearanceImage(other_img, other_pose))
        base = pose_box(pose)
        arm = raised_arm(pose)
        kept = KeptSource.of(image, mask, pose)
        look = LookSource.of(other_img, other_mask, other_pose)  # its head and body, as the app carries them
        try:
            square = engine.render(own, arm)
            before = paste(image, square.image, square.box)  # the old square, pasted
            cells = [
                image,
                before,
                repose(engine, own, arm, scene, base, grey=grey).image,
                repose(engine, own, arm, scene, base, grey=grey, kept=kept).image,
                repose(engine, own, bent_elbow(pose), scene, base, grey=grey, kept=kept).image,
                repose(engine, own, step(pose), scene, base, grey=grey, kept=kept).image,
                repose(engine, own, tilted_head(pose), scene, base, grey=grey, kept=kept).image,
                repose(engine, own, pose_into_frame(other_pose, pose), scene, base, grey=grey, kept=kept).image,
                repose(engine, other, arm, scene, base, grey=grey, borrowed=look).image,
            ]
        except EngineError as e:
            log.info("%s: skipped (%s)", path.name, e)
            continue
        tiles = [_fit(_drawn(c)) for c in cells]
        row = np.concatenate(tiles, axis=1)
        label = f"{path.name}  |  " + "  |  ".join(COLUMNS[1:]) + f"  (look of {other_path.name})"
        rows.append(np.concatenate([row, _label(row.shape[1], label)], axis=0))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_image(args.out, sheet)
    log.info("wrote %s (%d rows)", args.out, len(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
