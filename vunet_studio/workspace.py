"""The studio's workspace document: photos, their poses, appearance choices, keyframes.

Qt-free so it can be saved, loaded and tested without a display. The GUI wraps it in an
undo stack (`vunet_studio.gui.document`). A `.vunet` file is JSON, written atomically.

Each photo carries two poses:
  source_pose  where the person in the photo really is (estimated, read from a pose file
               or corrected by hand); the appearance encoder crops the photo with it;
  pose         the target pose the user edits and the person is re-rendered in.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vunet_studio.fileio import atomic_write_text
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, parse_poses, pose_document

log = logging.getLogger(__name__)

FORMAT_NAME = "vunet-studio-workspace"
FORMAT_VERSION = 1
WORKSPACE_SUFFIX = ".vunet"
NUM_PARTS = 8  # vunet_studio.parts.NUM_PARTS; kept here so the document needs no cv2

AppearanceMode = Literal["photo", "mix", "sample"]


class WorkspaceError(ValueError):
    """A workspace file could not be read or written; the message is for the user."""


@dataclass
class Photo:
    """A loaded photo. `image` is (H, W, 3) uint8 RGB, never written to the workspace file."""

    id: int
    path: Path
    image: np.ndarray | None = None
    pose: Pose | None = None
    source_pose: Pose | None = None
    origin: str = "pending"  # how source_pose was found: estimated / file / template / pending
    note: str = ""  # why a template was used, for the status bar

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def size(self) -> tuple[int, int]:
        if self.image is None:
            return (0, 0)
        return int(self.image.shape[1]), int(self.image.shape[0])


@dataclass(frozen=True)
class AppearanceSpec:
    """Where the rendered person's appearance comes from.

    photo: the `source` photo (None = the photo being edited);
    mix:   part k from photo `parts[k]` (None = the photo being edited);
    sample: a draw from the prior with `seed`.
    """

    mode: AppearanceMode = "photo"
    source: int | None = None
    parts: tuple[int | None, ...] = (None,) * NUM_PARTS
    seed: int = 0

    def with_(self, **kw: Any) -> AppearanceSpec:
        return replace(self, **kw)


@dataclass
class Workspace:
    photos: list[Photo] = field(default_factory=list)
    current: int | None = None  # photo id
    appearance: AppearanceSpec = field(default_factory=AppearanceSpec)
    keyframes: list[Pose] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    _next_id: int = 1

    def new_id(self) -> int:
        i = self._next_id
        self._next_id += 1
        return i

    def photo(self, photo_id: int | None) -> Photo | None:
        return next((p for p in self.photos if p.id == photo_id), None)

    def index_of(self, photo_id: int | None) -> int | None:
        return next((i for i, p in enumerate(self.photos) if p.id == photo_id), None)

    @property
    def current_photo(self) -> Photo | None:
        return self.photo(self.current)


# --- pose helpers the editor needs ------------------------------------------------------
def fit_pose_to_box(pose: Pose, box: tuple[float, float, float, float]) -> Pose:
    """`pose` scaled uniformly and moved so its joints' box fits the person box (x0, y0, x1, y1).

    Scaled by height (people differ in pose width far more than in height), centred in x,
    feet/top aligned to the box, so "copy the pose of another photo" lands on this person.
    """
    src = pose.bbox()
    if src is None:
        return pose.copy()
    sx0, sy0, sx1, sy1 = src
    x0, y0, x1, y1 = box
    src_h, dst_h = max(sy1 - sy0, 1e-3), max(y1 - y0, 1e-3)
    s = dst_h / src_h
    out = pose.copy()
    out.xy = ((pose.xy - ((sx0 + sx1) / 2.0, sy0)) * s + ((x0 + x1) / 2.0, y0)).astype(np.float32)
    return out


def place_hidden_joints(pose: Pose) -> Pose:
    """A copy whose hidden joints sit where the template puts them relative to the visible
    ones, so "show joint" brings a joint back at a sensible place (files store missing joints
    at 0, 0). Visibility is unchanged."""
    out = pose.copy()
    box = pose.bbox()
    if box is None or out.visible.all():
        return out
    x0, y0, x1, y1 = box
    # Fit the template to the visible joints' box (at least a plausible person size).
    side_h = max(y1 - y0, 1.0)
    template = Pose.template(1.0, 1.0)
    tmpl_vis = template.xy[pose.visible]
    tx0, ty0 = tmpl_vis.min(axis=0)
    tx1, ty1 = tmpl_vis.max(axis=0)
    scale = side_h / max(ty1 - ty0, 1e-3) if ty1 - ty0 > 0.2 else max(x1 - x0, y1 - y0, 1.0) / 0.5
    offset = np.array([(x0 + x1) / 2 - scale * (tx0 + tx1) / 2, y0 - scale * ty0], np.float32)
    out.xy[~pose.visible] = template.xy[~pose.visible] * scale + offset
    return out


def interpolate_poses(keys: list[Pose], frames_between: int) -> list[Pose]:
    """Linear interpolation through `keys`; a joint hidden at either end is hidden in between."""
    if len(keys) < 2:
        raise ValueError("an animation needs at least two poses")
    frames: list[Pose] = []
    for a, b in zip(keys[:-1], keys[1:], strict=True):
        frames.append(a.copy())  # keys keep their own visibility
        for k in range(1, frames_between + 1):
            t = k / (frames_between + 1)
            xy = (1.0 - t) * a.xy + t * b.xy
            frames.append(Pose(xy, a.visible & b.visible, a.image_size))
    frames.append(keys[-1].copy())
    return frames


# --- files ------------------------------------------------------------------------------
def _pose_json(pose: Pose | None) -> dict[str, Any] | None:
    if pose is None:
        return None
    return pose_document([pose], pose.image_size)


def _pose_from(doc: Any, where: str) -> Pose | None:
    if doc is None:
        return None
    try:
        poses = parse_poses(doc, where)
    except PoseFileError as e:
        raise WorkspaceError(f"{where}: {e.problem}") from None
    if len(poses) != 1:
        raise WorkspaceError(f"{where}: expected one pose")
    return poses[0]


def workspace_document(ws: Workspace, base_dir: Path | None = None) -> dict[str, Any]:
    """The JSON document of `ws`; photo paths also stored relative to `base_dir` so a
    workspace folder can be moved with its photos."""
    index = {p.id: i for i, p in enumerate(ws.photos)}

    def ref(pid: int | None) -> int | None:
        return index.get(pid) if pid is not None else None

    photos = []
    for p in ws.photos:
        entry: dict[str, Any] = {"path": str(p.path.resolve()), "origin": p.origin}
        if base_dir is not None:
            try:
                entry["relative_path"] = os.path.relpath(p.path.resolve(), base_dir.resolve())
            except ValueError:  # another drive on Windows
                pass
        entry["pose"] = _pose_json(p.pose)
        entry["source_pose"] = _pose_json(p.source_pose)
        photos.append(entry)
    a = ws.appearance
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "photos": photos,
        "current": ref(ws.current),
        "appearance": {
            "mode": a.mode,
            "source": ref(a.source),
            "parts": [ref(x) for x in a.parts],
            "seed": int(a.seed),
        },
        "keyframes": [_pose_json(k) for k in ws.keyframes],
        "settings": ws.settings,
    }


def workspace_from_document(doc: Any, base_dir: Path | None = None, where: str = "workspace") -> Workspace:
    """A workspace (photos without pixels: the caller loads them) from its JSON document."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise WorkspaceError(f"{where}: not a VUNet Studio workspace")
    if not isinstance(doc.get("version"), int) or doc["version"] > FORMAT_VERSION:
        raise WorkspaceError(f"{where}: made by a newer version of VUNet Studio")
    ws = Workspace()
    entries = doc.get("photos")
    if not isinstance(entries, list):
        raise WorkspaceError(f"{where}: 'photos' is missing")
    ids: list[int] = []
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("path"), str):
            raise WorkspaceError(f"{where}: photo {i + 1} has no path")
        path = Path(e["path"])
        rel = e.get("relative_path")
        if base_dir is not None and isinstance(rel, str) and (base_dir / rel).exists():
            path = base_dir / rel  # the workspace moved together with its photos
        photo = Photo(
            id=ws.new_id(),
            path=path,
            pose=_pose_from(e.get("pose"), f"{where}: photo {i + 1}"),
            source_pose=_pose_from(e.get("source_pose"), f"{where}: photo {i + 1}"),
            origin=str(e.get("origin", "file")),
        )
        ws.photos.append(photo)
        ids.append(photo.id)

    def pid(x: Any) -> int | None:
        return ids[x] if isinstance(x, int) and 0 <= x < len(ids) else None

    ws.current = pid(doc.get("current"))
    a = doc.get("appearance") or {}
    mode = a.get("mode", "photo")
    parts = a.get("parts") or [None] * NUM_PARTS
    if mode not in ("photo", "mix", "sample") or not isinstance(parts, list) or len(parts) != NUM_PARTS:
        raise WorkspaceError(f"{where}: malformed appearance settings")
    ws.appearance = AppearanceSpec(
        mode=mode, source=pid(a.get("source")), parts=tuple(pid(x) for x in parts), seed=int(a.get("seed", 0))
    )
    ws.keyframes = [k for k in (_pose_from(k, f"{where}: keyframe") for k in doc.get("keyframes", [])) if k]
    settings = doc.get("settings", {})
    ws.settings = settings if isinstance(settings, dict) else {}
    return ws


def save_workspace(path: str | os.PathLike[str], ws: Workspace) -> None:
    p = Path(path)
    text = json.dumps(workspace_document(ws, p.parent), indent=1, allow_nan=False)
    try:
        atomic_write_text(p, text)
    except OSError as e:
        raise WorkspaceError(f"{p.name}: cannot write the file ({e.strerror or e})") from None


def load_workspace(path: str | os.PathLike[str]) -> Workspace:
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkspaceError(f"{p.name}: file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise WorkspaceError(f"{p.name}: cannot read the file ({e})") from None
    except json.JSONDecodeError as e:
        raise WorkspaceError(f"{p.name}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return workspace_from_document(doc, p.parent, p.name)
