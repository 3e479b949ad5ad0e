"""`vunet-prepare`: turn a folder of photos into a training dataset in the official layout.

    vunet-prepare PHOTOS_DIR OUT_DIR [--size 128|256] [--poses-from DIR] [--checkpoint C]

Each usable person (both shoulders and both hips found) becomes one sample: the square the
app shows the model around a person (`vunet_studio.framing`: --box-scale x the joints'
extent, default BOX_SCALE), padded by repeating the border where it leaves the photo,
resized to --size, written to OUT_DIR/images/. OUT_DIR/index.p holds
`joint_order`, `imgs` (relative to index.p), `train` (bools) and `joints` (N x 18 x 2,
normalised to [0, 1], -1 = missing), as the official DeepFashion/Market files do.

Poses come from the pose estimator (openpifpaf if its checkpoint is here, else the bundled
BlazePose) or, with --poses-from, from OpenPose or COCO
JSON files named like the photo (`a.jpg` -> `a.json` or `a_keypoints.json`, same sub-folder),
in pixels of the upright photo (EXIF orientation applied).

Interrupting is safe: OUT_DIR/prepare-state.json records every finished photo (written
atomically every few photos and on exit); running the same command again skips them and
rebuilds index.p from the record. The record also keeps the settings, so a rerun with
different ones is refused instead of mixing two kinds of crops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from training.index_file import IMAGES_DIR, INDEX_NAME, write_index
from vunet_studio.estimation import DEFAULT_THRESHOLD, EstimatorUnavailable, PoseEstimator, largest_first
from vunet_studio.exports import ExportError, write_image
from vunet_studio.fileio import atomic_write_text
from vunet_studio.framing import BOX_SCALE, FramingError, crop, pose_box, pose_in_box, snap
from vunet_studio.imageio import IMAGE_EXTENSIONS, ImageLoadError, is_image_path, load_image
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses

log = logging.getLogger(__name__)

STATE_NAME = "prepare-state.json"
STATE_VERSION = 1
#: Crop names longer than this (in bytes) are shortened with a hash of the photo's path: a
#: legal long photo name plus "_jpg_0.png" would pass the file system's 255-byte limit.
MAX_NAME_BYTES = 200
#: Save the record after this many photos or seconds, whichever comes first: often enough
#: that an interrupt loses little, rarely enough that rewriting it stays cheap on big folders.
SAVE_EVERY_PHOTOS = 25
SAVE_EVERY_S = 30.0

# Photo outcomes, as recorded in the state file and counted in the report.
USED, NO_PERSON, UNREADABLE, NO_POSE_FILE, BAD_POSE_FILE = (
    "used",
    "no_person",
    "unreadable",
    "no_pose_file",
    "bad_pose_file",
)


class PrepareError(Exception):
    """A problem with the arguments or the output folder; the message is for the user."""


@dataclass(frozen=True)
class Settings:
    """Everything that changes the samples; a resumed run must use the same."""

    size: int = 256
    #: Crop side / the joints' larger extent: the app's framing, so a model trained on these
    #: crops sees photos as the app shows them (joints stop at the eyes and ankles; the rest
    #: of the box keeps the head and feet).
    box_scale: float = BOX_SCALE
    min_box: int = 48  # crops smaller than this many photo pixels are too blurry to learn from
    val_fraction: float = 0.1
    threshold: float = DEFAULT_THRESHOLD
    checkpoint: str | None = None
    poses_from: str | None = None


@dataclass
class Report:
    counts: Counter[str]
    samples: int
    train: int
    index_path: Path
    interrupted: bool = False


# --- photos -----------------------------------------------------------------------
def find_photos(photos_dir: Path, exclude: Path | None = None) -> list[Path]:
    """Image files under `photos_dir` (recursively), sorted, skipping `exclude` (our output)."""
    found = []
    for p in photos_dir.rglob("*"):
        if not is_image_path(p) or not p.is_file() or p.name.startswith("."):
            continue
        if exclude is not None and p.is_relative_to(exclude):
            continue
        found.append(p)
    return sorted(found)


def load_photo(path: Path) -> np.ndarray | None:
    """(H, W, 3) uint8 RGB, upright per its EXIF orientation; None if it cannot be decoded."""
    try:
        return load_image(path)
    except ImageLoadError as e:
        log.warning("%s: cannot read the image (%s)", path, e.problem)
        return None


def _stamp(path: Path) -> list[int]:
    st = path.stat()
    return [st.st_size, st.st_mtime_ns]


def pose_file_for(poses_dir: Path, rel: Path) -> Path | None:
    for name in (f"{rel.stem}.json", f"{rel.stem}_keypoints.json"):  # ours/COCO, OpenPose's naming
        candidate = poses_dir / rel.parent / name
        if candidate.is_file():
            return candidate
    return None


def is_validation(rel: Path, val_fraction: float) -> bool:
    """A stable split by the photo's path: all people of a photo land on the same side,
    and a resumed run splits exactly as the first did."""
    h = int(hashlib.sha1(rel.as_posix().encode()).hexdigest()[:8], 16)
    return h / 2**32 < val_fraction


# --- cropping ---------------------------------------------------------------------
def crop_person(
    image: np.ndarray, pose: Pose, size: int, box_scale: float = BOX_SCALE
) -> tuple[np.ndarray, np.ndarray] | None:
    """The person's square (`framing.crop` of the box around their joints) at `size` x `size`
    and its joints normalised to [0, 1] (-1 = missing); None when the box misses the photo."""
    try:
        square, cut = crop(image, pose_box(pose, box_scale), size)
    except FramingError:
        return None
    joints = np.clip(pose_in_box(pose, cut, 1).xy, 0.0, 1.0)  # (18, 2) in the crop, 0..1
    joints[~pose.visible] = -1.0
    return square, joints.astype(np.float32)


def crop_stem(rel: Path) -> str:
    """The stem of a photo's crop names (`a.jpg` -> `a_jpg`, then `_0.png`, `_1.png`...).

    Too long a name is cut and given a hash of the photo's relative path, so two photos whose
    long names start alike still get different crops, and a rerun finds the same names."""
    stem = f"{rel.stem}_{rel.suffix.lstrip('.')}"
    if len(f"{stem}_99999.png".encode()) <= MAX_NAME_BYTES:
        return stem
    digest = hashlib.sha1(rel.as_posix().encode("utf-8", "surrogateescape")).hexdigest()[:12]
    short = stem.encode("utf-8", "surrogateescape")[: MAX_NAME_BYTES - 40].decode("utf-8", "ignore")
    return f"{short}~{digest}"


# --- one photo ----------------------------------------------------------------------
def process_photo(
    photo: Path,
    rel: Path,
    out_dir: Path,
    settings: Settings,
    estimator: PoseEstimator | None,
) -> dict[str, Any]:
    """Write the crops of one photo; returns its record: status and samples."""
    record: dict[str, Any] = {"status": USED, "samples": []}
    pose_file = None
    if settings.poses_from is not None:
        pose_file = pose_file_for(Path(settings.poses_from), rel)
        if pose_file is None:
            log.info("%s: no pose file", rel)
            return {"status": NO_POSE_FILE, "samples": []}
    image = load_photo(photo)
    if image is None:
        return {"status": UNREADABLE, "samples": []}
    h, w = image.shape[:2]
    if pose_file is not None:
        try:
            poses = largest_first(read_poses(pose_file, image_size=(w, h)))
        except PoseFileError as e:
            log.warning("%s", e)
            return {"status": BAD_POSE_FILE, "samples": []}
    else:
        assert estimator is not None
        poses = estimator.estimate(image)
    train = not is_validation(rel, settings.val_fraction)
    stem = crop_stem(rel)
    for pose in poses:
        if not pose.has_torso():
            continue
        if snap(pose_box(pose, settings.box_scale)).side < settings.min_box:
            log.debug("%s: a person too small to use", rel)
            continue
        result = crop_person(image, pose, settings.size, settings.box_scale)
        if result is None:
            continue
        crop, joints = result
        name = (Path(IMAGES_DIR) / rel.parent / f"{stem}_{len(record['samples'])}.png").as_posix()
        write_image(out_dir / name, crop, compress_level=1)  # speed over size: datasets are large
        record["samples"].append(
            {"img": name, "train": train, "joints": [[round(float(v), 6) for v in j] for j in joints]}
        )
    if not record["samples"]:
        record["status"] = NO_PERSON
    return record


# --- the record and the index -------------------------------------------------------
def _load_state(out_dir: Path, settings: Settings, photos_dir: Path, restart: bool) -> dict[str, Any]:
    path = out_dir / STATE_NAME
    fresh = {
        "version": STATE_VERSION,
        "photos_dir": str(photos_dir),
        "settings": asdict(settings),
        "photos": {},
    }
    if not path.exists():
        if (out_dir / INDEX_NAME).exists():
            raise PrepareError(
                f"{out_dir} already holds an {INDEX_NAME} that vunet-prepare did not make. "
                "Choose an empty output folder."
            )
        return fresh
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        ok = (
            state.get("version") == STATE_VERSION
            and isinstance(state.get("photos"), dict)
            and all(isinstance(r, dict) for r in state["photos"].values())
        )
    except (OSError, ValueError, AttributeError):
        ok = False
    if not ok:
        if not restart:
            raise PrepareError(f"{path} is damaged or from another version. Add --restart to start over.")
        return fresh
    outside = _names_outside(out_dir, state["photos"].values())
    if outside and not restart:
        raise PrepareError(
            f"{path} names files outside {out_dir / IMAGES_DIR} (such as {outside[0]!r}); it was not "
            "written by vunet-prepare. Add --restart to start over (only files inside are removed)."
        )
    if restart:
        _delete_samples(out_dir, state["photos"].values())
        return fresh
    old_photos = state.get("photos_dir")
    if old_photos != str(photos_dir):
        raise PrepareError(
            f"{out_dir} holds a dataset prepared from the photo folder {old_photos}, not {photos_dir}. "
            f"Choose another output folder, give {old_photos} to continue it, or add --restart to "
            "replace it (its crops are deleted)."
        )
    if state.get("settings") != asdict(settings):
        old = state.get("settings") or {}
        diff = ", ".join(
            f"{k} {old.get(k)!r} -> {v!r}" for k, v in asdict(settings).items() if old.get(k) != v
        )
        raise PrepareError(
            f"{out_dir} was prepared with other settings ({diff}). Use the same options to resume, "
            "another output folder, or add --restart to start over."
        )
    return state


def _sample_names(records: Any) -> list[Any]:
    names = []
    for rec in records:
        samples = rec.get("samples", []) if isinstance(rec, dict) else []
        for s in samples if isinstance(samples, list) else []:
            names.append(s.get("img") if isinstance(s, dict) else s)
    return names


def _crop_path(out_dir: Path, name: Any) -> Path | None:
    """Where crop `name` (from the record) lies, or None unless it is a .png inside
    OUT_DIR/images: the record is a file anyone can edit, and deleting what it names must
    never reach outside the output folder (absolute paths, "..", symbolic links)."""
    if not isinstance(name, str) or not name or "\0" in name:
        return None
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts or rel.suffix.lower() != ".png" or rel.parts[0] != IMAGES_DIR:
        return None
    images = (out_dir / IMAGES_DIR).resolve()
    path = (out_dir / rel).resolve()
    return path if path.is_relative_to(images) and path != images else None


def _names_outside(out_dir: Path, records: Any) -> list[Any]:
    return [n for n in _sample_names(records) if _crop_path(out_dir, n) is None]


def _delete_samples(out_dir: Path, records: Any) -> None:
    for name in _sample_names(records):
        path = _crop_path(out_dir, name)
        if path is None:
            log.warning("not deleting %r: it is not a crop inside %s", name, out_dir / IMAGES_DIR)
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as e:  # a crop that cannot go only wastes space; the index no longer lists it
            log.warning("cannot delete %s (%s)", path, e.strerror or e)


def _save_state(out_dir: Path, state: dict[str, Any]) -> None:
    atomic_write_text(out_dir / STATE_NAME, json.dumps(state, separators=(",", ":")))


def _write_index(out_dir: Path, state: dict[str, Any], order: list[str]) -> tuple[Path, int, int]:
    """index.p from the record, photos in `order`; returns (path, samples, train samples)."""
    imgs: list[str] = []
    train: list[bool] = []
    joints: list[list[list[float]]] = []
    for rel in order:
        for s in state["photos"].get(rel, {}).get("samples", []):
            imgs.append(s["img"])
            train.append(bool(s["train"]))
            joints.append(s["joints"])
    path = write_index(out_dir / INDEX_NAME, imgs, train, joints)
    return path, len(imgs), sum(train)


# --- the run ------------------------------------------------------------------------
def prepare(
    photos_dir: Path,
    out_dir: Path,
    settings: Settings,
    estimator: PoseEstimator | None = None,
    *,
    make_estimator: Callable[[], PoseEstimator] | None = None,
    restart: bool = False,
    show_progress: bool = True,
) -> Report:
    """Prepare (or resume preparing) the dataset. Without --poses-from, the estimator is
    `estimator` or, only when some photo still needs it, `make_estimator()` (default:
    `build_tool_chain(settings.checkpoint)`: openpifpaf if its checkpoint is here, else the
    bundled BlazePose; with a checkpoint, openpifpaf only)."""
    photos_dir, out_dir = photos_dir.resolve(), out_dir.resolve()
    if not photos_dir.is_dir():
        raise PrepareError(f"The photo folder {photos_dir} does not exist.")
    if settings.poses_from is not None and not Path(settings.poses_from).is_dir():
        raise PrepareError(f"The pose folder {settings.poses_from} (--poses-from) does not exist.")
    photos = find_photos(photos_dir, exclude=out_dir / IMAGES_DIR)
    if not photos:
        raise PrepareError(f"No photos ({', '.join(IMAGE_EXTENSIONS)}) found in {photos_dir}.")
    state = _load_state(out_dir, settings, photos_dir, restart)

    rels = {p: p.relative_to(photos_dir) for p in photos}
    order = [r.as_posix() for r in rels.values()]
    gone = set(state["photos"]) - set(order)
    if gone:  # photos removed since the last run: their samples leave the dataset too
        log.info("%d photos are gone since the last run; dropping their samples", len(gone))
        _delete_samples(out_dir, [state["photos"].pop(k) for k in gone])

    def stamp(p: Path) -> list[Any]:
        s: list[Any] = _stamp(p)
        if settings.poses_from is not None:
            pf = pose_file_for(Path(settings.poses_from), rels[p])
            s.append(_stamp(pf) if pf else None)
        return s

    todo = []
    for p in photos:
        rec = state["photos"].get(rels[p].as_posix())
        if rec is None or rec.get("stamp") != stamp(p):
            todo.append(p)
    if len(todo) < len(photos):
        log.info("resuming: %d of %d photos already done", len(photos) - len(todo), len(photos))

    if todo and settings.poses_from is None and estimator is None:
        if make_estimator is None:
            from vunet_studio.estimation import build_tool_chain

            estimator = build_tool_chain(settings.checkpoint, threshold=settings.threshold)
        else:
            estimator = make_estimator()  # may raise EstimatorUnavailable before anything is written

    out_dir.mkdir(parents=True, exist_ok=True)  # only now: a failed start leaves no empty folder
    interrupted = False
    last_save, since_save = time.monotonic(), 0
    try:
        with tqdm(todo, unit="photo", desc="preparing", disable=not show_progress) as bar:
            for p in bar:
                key = rels[p].as_posix()
                if key in state["photos"]:  # the photo changed: its old crops go
                    _delete_samples(out_dir, [state["photos"].pop(key)])
                rec = process_photo(p, rels[p], out_dir, settings, estimator)
                rec["stamp"] = stamp(p)
                state["photos"][key] = rec
                since_save += 1
                if since_save >= SAVE_EVERY_PHOTOS or time.monotonic() - last_save > SAVE_EVERY_S:
                    _save_state(out_dir, state)
                    last_save, since_save = time.monotonic(), 0
    except KeyboardInterrupt:
        interrupted = True
    finally:
        # Whatever happened, the record and the index agree with the crops on disk.
        _save_state(out_dir, state)
        index_path, n, n_train = _write_index(out_dir, state, order)
    counts = Counter(state["photos"][k]["status"] for k in order if k in state["photos"])
    return Report(counts, n, n_train, index_path, interrupted)


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="vunet-prepare",
        description="Make a VUNet training dataset (index.p + square person crops) from a folder of photos.",
    )
    ap.add_argument("photos_dir", type=Path, help="folder of photos (searched recursively)")
    ap.add_argument("out_dir", type=Path, help="output folder: images/, index.p, prepare-state.json")
    ap.add_argument(
        "--size", type=int, choices=(128, 256), default=Settings.size, help="crop size (default 256)"
    )
    ap.add_argument(
        "--poses-from",
        type=Path,
        metavar="DIR",
        help="take poses from OpenPose/COCO JSON files named like the photos instead of detecting them",
    )
    ap.add_argument(
        "--checkpoint",
        help="openpifpaf checkpoint name (downloaded once) or file; default: openpifpaf if its "
        "shufflenetv2k16 checkpoint is here, else the bundled BlazePose",
    )
    ap.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    ap.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"joint confidence above which a detected joint counts (default {DEFAULT_THRESHOLD})",
    )
    ap.add_argument(
        "--box-scale",
        type=float,
        default=Settings.box_scale,
        help=f"crop side / the joints' larger extent (default {BOX_SCALE}, the app's framing)",
    )
    ap.add_argument(
        "--min-box",
        type=int,
        default=Settings.min_box,
        help="skip people whose crop is smaller than this many photo pixels (default 48)",
    )
    ap.add_argument(
        "--val-fraction", type=float, default=Settings.val_fraction, help="share of photos for testing (0.1)"
    )
    ap.add_argument("--restart", action="store_true", help="discard an earlier, unfinished run in OUT_DIR")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    logging.getLogger("openpifpaf").setLevel(logging.WARNING)  # it logs every image at INFO
    # `not (a <= x)` also catches NaN, which every comparison lets through.
    if not (0.0 <= args.val_fraction <= 1.0) or not (1.0 <= args.box_scale <= 20.0) or args.min_box < 0:
        log.error("--val-fraction must be in [0, 1], --box-scale a number in [1, 20], --min-box >= 0")
        return 2
    if not (0.0 <= args.threshold <= 1.0):
        log.error("--threshold must be a number in [0, 1]")
        return 2
    settings = Settings(
        size=args.size,
        box_scale=args.box_scale,
        min_box=args.min_box,
        val_fraction=args.val_fraction,
        threshold=args.threshold,
        checkpoint=None if args.poses_from else args.checkpoint,
        poses_from=str(args.poses_from.resolve()) if args.poses_from else None,
    )

    def make_estimator() -> PoseEstimator:
        from vunet_studio.estimation import build_tool_chain

        log.info("loading the pose estimator...")
        return build_tool_chain(args.checkpoint, args.device, threshold=args.threshold)

    try:
        with logging_redirect_tqdm():
            report = prepare(
                args.photos_dir,
                args.out_dir,
                settings,
                make_estimator=make_estimator,
                restart=args.restart,
                show_progress=not args.quiet,
            )
    except PrepareError as e:
        log.error("%s", e)
        return 2
    except EstimatorUnavailable as e:
        log.error(
            "%s\nTo prepare without the estimator, give poses as OpenPose or COCO JSON files with --poses-from DIR.",
            e,
        )
        return 2
    except (OSError, ExportError) as e:
        log.error("cannot write the dataset: %s", e)
        return 1

    c = report.counts
    skipped = [f"{c[NO_PERSON]} with no usable person", f"{c[UNREADABLE]} unreadable"]
    if settings.poses_from is not None:
        skipped += [f"{c[NO_POSE_FILE]} without a pose file", f"{c[BAD_POSE_FILE]} with a bad pose file"]
    # The run's summary is the command's output, on stdout where a user or script reads it.
    print(f"photos: {c[USED]} used; skipped {', '.join(skipped)}")  # noqa: T201 - the CLI's result
    print(  # noqa: T201 - the CLI's result
        f"dataset: {report.samples} people ({report.train} train, {report.samples - report.train} test) "
        f"in {report.index_path}"
    )
    if report.interrupted:
        log.warning("interrupted: run the same command again to continue")
        return 130
    if report.samples == 0:
        log.error("no usable person found (each needs both shoulders and both hips)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
