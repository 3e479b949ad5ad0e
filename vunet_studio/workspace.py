"""The studio's workspace document: photos, their poses, appearance choices, keyframes.

Qt-free so it can be saved, loaded and tested without a display. The GUI wraps it in an
undo stack (`vunet_studio.gui.document`). A `.vunet` file is JSON, written atomically.

Each photo carries two poses:
  source_pose  where the person in the photo really is (estimated, read from a pose file
               or corrected by hand); the appearance encoder crops the photo with it;
  pose         the target pose the user edits and the person is re-rendered in.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vunet_studio.fileio import atomic_write_text
from vunet_studio.pose import Pose
from vunet_studio.pose_io import FORMAT_NAME as POSE_FORMAT_NAME
from vunet_studio.pose_io import FORMAT_VERSION as POSE_FORMAT_VERSION
from vunet_studio.pose_io import PoseFileError, decode_json, parse_poses, pose_document
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS, NUM_PARTS
from vunet_studio.userfiles import UserFileError, read_user_file

log = logging.getLogger(__name__)

FORMAT_NAME = "vunet-studio-workspace"
FORMAT_VERSION = 1
WORKSPACE_SUFFIX = ".vunet"

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
    # Which of the people found in the photo is edited (0 = the most prominent), and all of
    # them: found again on open, never written to the file (only `person` is).
    person: int = 0
    people: list[Pose] = field(default_factory=list)
    # Each photo keeps its own look: setting B's look on A must not change what B shows.
    appearance: AppearanceSpec = field(default_factory=lambda: AppearanceSpec())

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
    keyframes: list[Pose] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    _next_id: int = 1
    #: What the loader repaired or left out, one line each, for the GUI to show; never saved.
    load_warnings: list[str] = field(default_factory=list)

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

    @property
    def appearance(self) -> AppearanceSpec:
        """The edited photo's appearance choice (the default when no photo is open)."""
        photo = self.current_photo
        return photo.appearance if photo is not None else AppearanceSpec()

    @appearance.setter
    def appearance(self, spec: AppearanceSpec) -> None:
        photo = self.current_photo
        if photo is not None:
            photo.appearance = spec


# --- pose helpers the editor needs ------------------------------------------------------
def fit_pose_to_box(pose: Pose, box: tuple[float, float, float, float]) -> Pose:
    """`pose` scaled uniformly and moved so its joints' box fits the person box (x0, y0, x1, y1).

    Scaled by height (people differ in pose width far more than in height), centred in x,
    feet/top aligned to the box, so "copy the pose of another photo" lands on this person.
    """
    src = pose.bbox()
    if src is None:
        return pose
    sx0, sy0, sx1, sy1 = src
    x0, y0, x1, y1 = box
    src_h, dst_h = max(sy1 - sy0, 1e-3), max(y1 - y0, 1e-3)
    s = dst_h / src_h
    return pose.with_xy(((pose.xy - ((sx0 + sx1) / 2.0, sy0)) * s + ((x0 + x1) / 2.0, y0)).astype(np.float32))


def _torso(pose: Pose) -> tuple[np.ndarray, float] | None:
    """(hip centre, neck-to-hip-centre length) of a pose with a torso (a portrait's hips
    inferred, as the app does: `Pose.with_inferred_hips`), else None."""
    pose = pose.with_inferred_hips()
    if not pose.has_torso():
        return None
    j = JOINT_INDEX
    neck = (pose.xy[j["rshoulder"]] + pose.xy[j["lshoulder"]]) / 2.0
    hip = (pose.xy[j["rhip"]] + pose.xy[j["lhip"]]) / 2.0
    return hip.astype(np.float64), float(np.linalg.norm(neck - hip))


def pose_into_frame(pose: Pose, frame: Pose) -> Pose:
    """`pose` (another photo's) scaled and moved so its torso lies on `frame`'s, in `frame`'s photo.

    The app re-poses a person inside their own photo: they keep their size and place (the
    stable box and the empty scene's hole are theirs), while B's joints are in the pixels of
    another photo, with another person at another distance. The torso (neck to hip centre)
    is the one length a pose change hardly alters (limbs fold, the joint box changes with
    the pose), so it sets the scale, and the hip centre the place.
    """
    src, dst = _torso(pose), _torso(frame)
    if src is None or dst is None:
        raise ValueError("both poses need a torso (both shoulders)")
    (c_src, len_src), (c_dst, len_dst) = src, dst
    s = len_dst / max(len_src, 1e-6)
    xy = ((pose.xy.astype(np.float64) - c_src) * s + c_dst).astype(np.float32)
    return Pose(xy, pose.visible, frame.image_size)


def place_hidden_joints(pose: Pose) -> Pose:
    """`pose` with its hidden joints where the template puts them relative to the visible
    ones, so "show joint" brings a joint back at a sensible place (files store missing joints
    at 0, 0). Visibility is unchanged."""
    box = pose.bbox()
    if box is None or pose.visible.all():
        return pose
    x0, y0, x1, y1 = box
    # Fit the template to the visible joints' box (at least a plausible person size).
    side_h = max(y1 - y0, 1.0)
    template = Pose.template(1.0, 1.0)
    tmpl_vis = template.xy[pose.visible]
    tx0, ty0 = tmpl_vis.min(axis=0)
    tx1, ty1 = tmpl_vis.max(axis=0)
    scale = side_h / max(ty1 - ty0, 1e-3) if ty1 - ty0 > 0.2 else max(x1 - x0, y1 - y0, 1.0) / 0.5
    offset = np.array([(x0 + x1) / 2 - scale * (tx0 + tx1) / 2, y0 - scale * ty0], np.float32)
    xy = pose.xy.copy()
    xy[~pose.visible] = template.xy[~pose.visible] * scale + offset
    return pose.with_xy(xy)


def interpolate_poses(keys: list[Pose], frames_between: int) -> list[Pose]:
    """Linear interpolation through `keys`; a joint hidden at either end is hidden in between."""
    if len(keys) < 2:
        raise ValueError("an animation needs at least two poses")
    if (
        isinstance(frames_between, bool)
        or not isinstance(frames_between, int)
        or not (0 <= frames_between <= MAX_FRAMES_BETWEEN)
    ):
        # Unbounded, a hand-edited setting of 1e12 filled memory on the GUI thread.
        raise ValueError(
            f"frames between poses must be a whole number from 0 to {MAX_FRAMES_BETWEEN} "
            "(Preferences ▸ Frames between poses)"
        )
    frames: list[Pose] = []
    for a, b in itertools.pairwise(keys):
        frames.append(a)  # keys keep their own visibility
        for k in range(1, frames_between + 1):
            t = k / (frames_between + 1)
            xy = (1.0 - t) * a.xy + t * b.xy
            frames.append(Pose(xy, a.visible & b.visible, a.image_size))
    frames.append(keys[-1])
    return frames


# --- files ------------------------------------------------------------------------------
#: Animation timing a workspace may carry; the preferences dialog offers the same ranges.
MIN_FPS, MAX_FPS = 1.0, 60.0
MAX_FRAMES_BETWEEN = 60
#: A workspace holds no pixels: a few kB per photo. A file far larger is not one.
MAX_FILE_BYTES = 256_000_000
#: Seeds the appearance panel can show and the engine's generator accepts.
MAX_SEED = 2**31 - 1
#: Joints beyond this many photo sizes (or pixels, without a size) are moved back to the
#: photo's edge on load: pose_io refuses such files, but a workspace must always reopen.
_FAR_SIZES = 10.0
_FAR_PIXELS = 1e5


def _pose_json(pose: Pose | None) -> dict[str, Any] | None:
    if pose is None:
        return None
    return pose_document([pose], pose.image_size)


def _number(v: Any) -> float | None:
    """`v` as a finite float, or None for anything else (bool, str, NaN, 10**400...)."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _whole(v: Any, lo: int, hi: int) -> int | None:
    """`v` as an int in [lo, hi] (42.0 counts as 42), or None."""
    f = _number(v)
    if f is None or not f.is_integer() or not lo <= f <= hi:
        return None
    return int(f)


def _own_pose(doc: dict[str, Any], where: str, warnings: list[str]) -> Pose | None:
    """A pose in the project's own format, repaired joint by joint where it can be.

    What the editor saved must reopen: a joint with unreadable coordinates is hidden, one
    absurdly far away is moved to the photo's edge, each with a warning. Only a pose whose
    structure is broken (not 18 joints) is left out.
    """
    if _whole(doc.get("version"), 0, POSE_FORMAT_VERSION) is None or doc.get("joint_order") != list(
        JOINT_NAMES
    ):
        warnings.append(f"{where}: the pose is from another version or joint order and was left out")
        return None
    size: tuple[int, int] | None = None
    size_doc = doc.get("image_size")
    if size_doc is not None:
        wh = [_whole(v, 1, 999_999) for v in size_doc] if isinstance(size_doc, list) else []
        if len(wh) == 2 and None not in wh:
            size = (int(wh[0]), int(wh[1]))  # type: ignore[arg-type]
        else:
            warnings.append(f"{where}: the pose's photo size is unreadable and was ignored")
    people = doc.get("people")
    person = people[0] if isinstance(people, list) and len(people) == 1 else None
    joints = person.get("joints") if isinstance(person, dict) else None
    vis = person.get("visible") if isinstance(person, dict) else None
    if not (
        isinstance(joints, list)
        and len(joints) == NUM_JOINTS
        and isinstance(vis, list)
        and len(vis) == NUM_JOINTS
    ):
        warnings.append(f"{where}: the pose does not have {NUM_JOINTS} joints and was left out")
        return None
    xy = np.zeros((NUM_JOINTS, 2), np.float64)
    visible = np.zeros(NUM_JOINTS, bool)
    unreadable = np.zeros(NUM_JOINTS, bool)
    for j, (pt, v) in enumerate(zip(joints, vis, strict=True)):
        coords = [_number(c) for c in pt] if isinstance(pt, list) and len(pt) == 2 else [None]
        if None in coords or not isinstance(v, bool):
            unreadable[j] = True
            continue
        xy[j] = coords
        visible[j] = v
    limit = _FAR_PIXELS if size is None else _FAR_SIZES * max(size)
    far = np.abs(xy).max(axis=1) > limit
    if far.any():
        lo, hi = (
            (np.zeros(2), np.asarray(size, np.float64)) if size else (np.full(2, -limit), np.full(2, limit))
        )
        xy[far] = np.clip(xy[far], lo, hi)
        warnings.append(
            f"{where}: {int(far.sum())} joint(s) lay far outside the photo and were moved to its edge"
        )
    pose = Pose(xy.astype(np.float32), visible, size)
    if unreadable.any():
        # Hidden where the template puts them, so showing one again brings it back in place
        # rather than at the photo's corner; other hidden joints keep their saved place.
        xy = pose.xy.copy()
        xy[unreadable] = place_hidden_joints(pose).xy[unreadable]
        pose = pose.with_xy(xy)
        warnings.append(
            f"{where}: {int(unreadable.sum())} joint(s) had unreadable coordinates and were hidden"
        )
    return pose


def _pose_from(doc: Any, where: str, warnings: list[str]) -> Pose | None:
    if doc is None:
        return None
    if isinstance(doc, dict) and doc.get("format") == POSE_FORMAT_NAME:
        return _own_pose(doc, where, warnings)
    try:  # another pose format (never written by the app): read it as pose files are read
        poses = parse_poses(doc, where)
    except PoseFileError as e:
        warnings.append(f"{where}: {e.problem}; the pose was left out")
        return None
    if len(poses) != 1:
        warnings.append(f"{where}: expected one pose, found {len(poses)}; the pose was left out")
        return None
    return poses[0]


def _settings_from(doc: Any, where: str, warnings: list[str]) -> dict[str, Any]:
    if not isinstance(doc, dict):
        if doc is not None:
            warnings.append(f"{where}: the settings are unreadable; the app's own settings are used")
        return {}
    settings: dict[str, Any] = {}
    for key, value in doc.items():
        # The app writes only simple values; a nested one (possibly thousands deep) would
        # only break the next save, so it is not kept.
        if value is None or isinstance(value, bool | int | float | str):
            settings[str(key)] = value
        else:
            log.info("%s: setting %r is not a simple value; dropped", where, key)
    fps = settings.pop("fps", None)
    if fps is not None:
        f = _number(fps)
        if f is not None and MIN_FPS <= f <= MAX_FPS:
            settings["fps"] = f
        else:
            warnings.append(
                f"{where}: animation speed {_shown(fps)} frames per second is not between "
                f"{MIN_FPS:g} and {MAX_FPS:g}; the app's own setting is used"
            )
    frames = settings.pop("frames_between", None)
    if frames is not None:
        n = _whole(frames, 0, MAX_FRAMES_BETWEEN)
        if n is not None:
            settings["frames_between"] = n
        else:
            warnings.append(
                f"{where}: {_shown(frames)} frames between poses is not a whole number from 0 to "
                f"{MAX_FRAMES_BETWEEN}; the app's own setting is used"
            )
    return settings


def _shown(value: Any) -> str:
    """A value for a message: short, and never a repr() that could recurse or run long."""
    if isinstance(value, bool | int | float) or value is None:
        text = repr(value) if not isinstance(value, int) or abs(value) < 10**15 else f"{float(value):.3g}"
    elif isinstance(value, str):
        text = repr(value if len(value) <= 20 else value[:20] + "…")
    else:
        text = f"a {type(value).__name__}"
    return text


def _appearance_json(a: AppearanceSpec, ref: Callable[[int | None], int | None]) -> dict[str, Any]:
    return {"mode": a.mode, "source": ref(a.source), "parts": [ref(x) for x in a.parts], "seed": int(a.seed)}


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
            with contextlib.suppress(ValueError):  # another drive on Windows: no relative path
                entry["relative_path"] = os.path.relpath(p.path.resolve(), base_dir.resolve())
        entry["pose"] = _pose_json(p.pose)
        entry["source_pose"] = _pose_json(p.source_pose)
        entry["person"] = int(p.person)
        entry["appearance"] = _appearance_json(p.appearance, ref)
        photos.append(entry)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "photos": photos,
        "current": ref(ws.current),
        # The edited photo's choice, as files had before choices were per photo: older
        # versions of the app still open the file.
        "appearance": _appearance_json(ws.appearance, ref),
        "keyframes": [_pose_json(k) for k in ws.keyframes],
        "settings": ws.settings,
    }


def workspace_from_document(doc: Any, base_dir: Path | None = None, where: str = "workspace") -> Workspace:
    """A workspace (photos without pixels: the caller loads them) from its JSON document.

    Only a document that is not a workspace at all raises `WorkspaceError`. Anything else
    that is unreadable (a pose, a keyframe, the appearance, a setting) is repaired or
    replaced by its default, with one line in `Workspace.load_warnings` for the user: the
    photos and poses someone worked on are never refused for one bad value.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME:
        raise WorkspaceError(f"{where}: not a VUNet Studio workspace")
    version = doc.get("version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise WorkspaceError(f"{where}: not a VUNet Studio workspace (its version is unreadable)")
    if version > FORMAT_VERSION:
        raise WorkspaceError(f"{where}: made by a newer version of VUNet Studio")
    ws = Workspace()
    warnings = ws.load_warnings
    entries = doc.get("photos")
    if not isinstance(entries, list):
        raise WorkspaceError(f"{where}: 'photos' is missing")
    ids: dict[int, int] = {}  # index in the file -> photo id
    for i, e in enumerate(entries):
        if not isinstance(e, dict) or not isinstance(e.get("path"), str) or not e["path"]:
            warnings.append(f"{where}: photo {i + 1} has no path and was left out")
            continue
        path = Path(e["path"])
        rel = e.get("relative_path")
        if base_dir is not None and isinstance(rel, str) and rel and (base_dir / rel).exists():
            path = base_dir / rel  # the workspace moved together with its photos
        label = f"{where}: photo {i + 1} ({path.name})"
        pose = _pose_from(e.get("pose"), label, warnings)
        source = _pose_from(e.get("source_pose"), f"{label}, its found pose", warnings)
        # One pose standing in for the other keeps the user's work: with either missing the
        # app would estimate both afresh and drop the edit.
        if pose is None and source is not None:
            pose = source
        elif source is None and pose is not None:
            source = pose
        origin = e.get("origin")
        photo = Photo(
            id=ws.new_id(),
            path=path,
            pose=pose,
            source_pose=source,
            origin=origin if isinstance(origin, str) and 0 < len(origin) <= 40 else "file",
        )
        person = e.get("person", 0)  # absent in files from before people could be chosen
        photo.person = person if isinstance(person, int) and not isinstance(person, bool) and 0 <= person < 100 else 0
        ws.photos.append(photo)
        ids[i] = photo.id

    def pid(x: Any) -> int | None:
        return ids.get(x) if isinstance(x, int) and not isinstance(x, bool) else None

    ws.current = pid(doc.get("current"))
    # Files from before choices were per photo hold one choice, which every photo showed: keep that.
    shared = _appearance_from(doc.get("appearance"), pid, where, warnings)
    for i, photo_id in ids.items():
        found = ws.photo(photo_id)
        own = entries[i].get("appearance")
        if found is not None:
            found.appearance = (
                shared if own is None else _appearance_from(own, pid, f"{where}: photo {i + 1}", warnings)
            )
    keyframes = doc.get("keyframes", [])
    if not isinstance(keyframes, list):
        warnings.append(f"{where}: the keyframes are unreadable and were left out")
        keyframes = []
    for n, k in enumerate(keyframes):
        pose = _pose_from(k, f"{where}: keyframe {n + 1}", warnings)
        if pose is not None:
            ws.keyframes.append(pose)
    ws.settings = _settings_from(doc.get("settings"), where, warnings)
    for w in warnings:
        log.warning("%s", w)
    return ws


def _appearance_from(a: Any, pid: Any, where: str, warnings: list[str]) -> AppearanceSpec:
    default = AppearanceSpec()
    if a is None:
        return default
    if not isinstance(a, dict):
        warnings.append(f"{where}: the appearance choice is unreadable; the photo's own appearance is used")
        return default
    mode = a.get("mode", "photo")
    if mode not in ("photo", "mix", "sample"):
        warnings.append(
            f"{where}: unknown appearance mode {_shown(mode)}; the photo's own appearance is used"
        )
        mode = "photo"
    parts = a.get("parts")
    if parts is None:
        parts = [None] * NUM_PARTS
    elif not isinstance(parts, list) or len(parts) != NUM_PARTS:
        warnings.append(f"{where}: the part mix is unreadable; every part comes from the photo being edited")
        parts = [None] * NUM_PARTS
    seed = a.get("seed", 0)
    s = _whole(seed, 0, MAX_SEED)
    if s is None:
        warnings.append(
            f"{where}: appearance seed {_shown(seed)} is not a whole number from 0 to {MAX_SEED}; seed 0 is used"
        )
        s = 0
    return AppearanceSpec(mode=mode, source=pid(a.get("source")), parts=tuple(pid(x) for x in parts), seed=s)


def save_workspace(path: str | os.PathLike[str], ws: Workspace) -> None:
    p = Path(path)
    text = json.dumps(workspace_document(ws, p.parent), indent=1, allow_nan=False)
    try:
        atomic_write_text(p, text)
    except OSError as e:
        raise WorkspaceError(f"{p.name}: cannot write the file ({e.strerror or e})") from None


def load_workspace(path: str | os.PathLike[str]) -> Workspace:
    """The workspace at `path`. Raises `WorkspaceError` only when the file cannot be read or
    is not a workspace; repaired values are listed in the result's `load_warnings`."""
    p = Path(path)
    try:
        text = read_user_file(p, MAX_FILE_BYTES).decode("utf-8")
    except UserFileError as e:
        raise WorkspaceError(f"{p.name}: {e.problem}") from None
    except UnicodeDecodeError as e:
        raise WorkspaceError(f"{p.name}: cannot read the file ({e})") from None
    doc = decode_json(text, lambda problem: WorkspaceError(f"{p.name}: {problem}"))
    return workspace_from_document(doc, p.parent, p.name)
