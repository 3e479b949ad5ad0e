"""The re-posing pair folders: their one writer (`vunet-synth --pairs`) and reader (`vunet-eval`).

A pairs folder holds one numbered sub-folder per pair (`000000/`, `000001/`, ...), each with
appearance.png + appearance_pose.json (the person) and target_pose.json + target.png +
mask.png (the same person in another pose, and where they are in it). An optional scene.png
is the scene without the person: what the app composites a re-posed person onto.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from training.data import read_rgb
from vunet_studio.exports import write_image
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses, write_openpose

logger = logging.getLogger(__name__)

APPEARANCE, APPEARANCE_POSE = "appearance.png", "appearance_pose.json"
TARGET, TARGET_POSE, MASK = "target.png", "target_pose.json", "mask.png"
PAIR_FILES = (APPEARANCE, APPEARANCE_POSE, TARGET_POSE, TARGET, MASK)
SCENE_FILE = "scene.png"  # optional: the scene without the person
#: zlib level of the pairs' PNGs: speed over size, as for the datasets.
PNG_LEVEL = 3


class PairsError(ValueError):
    """A pairs folder that cannot be used; the message says why."""


@dataclass
class Pair:
    name: str
    appearance: np.ndarray  # (H, W, 3) uint8 RGB
    appearance_pose: Pose
    target: np.ndarray  # (H, W, 3) uint8 RGB
    target_pose: Pose
    mask: np.ndarray  # (H, W) bool
    scene: np.ndarray | None = None  # (H, W, 3) uint8 RGB: the scene without the person


def pair_folder(root: Path, i: int) -> Path:
    """Where pair number `i` of `root` lies."""
    return root / f"{i:06d}"


def write_pair(folder: Path, pair: Pair) -> None:
    """Write `pair` into `folder` (created if missing); every file atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    (ah, aw), (th, tw) = pair.appearance.shape[:2], pair.target.shape[:2]
    write_image(folder / APPEARANCE, pair.appearance, compress_level=PNG_LEVEL)
    write_openpose(folder / APPEARANCE_POSE, [pair.appearance_pose], (aw, ah))
    write_image(folder / TARGET, pair.target, compress_level=PNG_LEVEL)
    write_openpose(folder / TARGET_POSE, [pair.target_pose], (tw, th))
    write_image(folder / MASK, pair.mask.astype(np.uint8) * 255, compress_level=PNG_LEVEL)
    if pair.scene is not None:
        write_image(folder / SCENE_FILE, pair.scene, compress_level=PNG_LEVEL)


def find_pairs(root: Path) -> list[Path]:
    """The pair folders of `root` (those with every file of `PAIR_FILES`), in name order."""
    if not root.is_dir():
        raise PairsError(f"pairs folder not found: {root}")
    dirs = sorted(d for d in root.iterdir() if d.is_dir() and all((d / f).is_file() for f in PAIR_FILES))
    if not dirs:
        raise PairsError(f"{root}: no pair folders (each needs {', '.join(PAIR_FILES)})")
    return dirs


def _pose(path: Path, size: tuple[int, int]) -> Pose:
    poses = read_poses(path, size)
    if not poses:
        raise PoseFileError(path, "no pose")
    p = poses[0]
    return p if p.image_size is not None else dataclasses.replace(p, image_size=size)


def load_pair(d: Path) -> Pair | None:
    """One pair, or None (with a warning) when a file is unreadable."""
    app, tgt, mask_rgb = read_rgb(d / APPEARANCE), read_rgb(d / TARGET), read_rgb(d / MASK)
    if app is None or tgt is None or mask_rgb is None:
        logger.warning("skipping pair %s: unreadable image", d.name)
        return None
    mask = mask_rgb[..., 0]  # (H, W): the mask is grey
    if mask.shape != tgt.shape[:2]:
        logger.warning(
            "skipping pair %s: mask %s and target %s differ in size", d.name, mask.shape, tgt.shape[:2]
        )
        return None
    try:
        ap = _pose(d / APPEARANCE_POSE, (app.shape[1], app.shape[0]))
        tp = _pose(d / TARGET_POSE, (tgt.shape[1], tgt.shape[0]))
    except (PoseFileError, OSError) as exc:
        logger.warning("skipping pair %s: %s", d.name, exc)
        return None
    scene = read_rgb(d / SCENE_FILE) if (d / SCENE_FILE).is_file() else None
    if scene is not None and scene.shape != tgt.shape:
        logger.warning("pair %s: its scene and target differ in size; no composite", d.name)
        scene = None
    return Pair(d.name, app, ap, tgt, tp, mask > 127, scene)
