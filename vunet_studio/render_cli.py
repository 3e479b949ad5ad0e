"""`vunet-studio render`: re-pose the person of a photo from the command line (no GUI).

  vunet-studio render --appearance person.jpg --pose target.json -o out.png
  vunet-studio render --appearance person.jpg --appearance-pose person.json \\
      --pose walk/ -o frames/            # a folder (or several files) of poses: one PNG each
  vunet-studio render ... -o frames/frame_%04d.png   # numbered files instead

Without --appearance-pose the person's pose comes from a pose file beside the photo
(`person.json`), else it is estimated (openpifpaf if its checkpoint is here, else the bundled
BlazePose; `vunet_studio.estimation.chain`). Pose files are OpenPose, COCO or the app's own
JSON; the first person in a file, or found in the photo, is used (--person picks another). Every user error ends in one line on stderr and exit status 1 (2 for bad
arguments); outputs are written atomically.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from vunet_studio.borrowed import LookSource
from vunet_studio.composite import repose
from vunet_studio.engine import AppearanceImage, EngineError, RenderEngine
from vunet_studio.exports import ExportError, image_format, write_image
from vunet_studio.fileio import is_temporary
from vunet_studio.framing import Box, FramingError, pose_box
from vunet_studio.imageio import ImageLoadError, is_grey, load_image
from vunet_studio.kept import KeptSource
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses
from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import segment_person

logger = logging.getLogger(__name__)

PROG = "vunet-studio render"


class CliError(Exception):
    """A user error: the message is printed as one line."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Re-render the person in a photo in new poses with the Variational U-Net.",
    )
    p.add_argument("--appearance", required=True, metavar="IMG", help="photo of the person to re-pose")
    p.add_argument(
        "--appearance-pose",
        metavar="JSON",
        help="that person's pose in the photo (OpenPose/COCO/app JSON); estimated when left out",
    )
    p.add_argument(
        "--pose",
        required=True,
        nargs="+",
        metavar="JSON",
        help="target pose file(s), or a folder of them (rendered in name order)",
    )
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output image; for several poses a folder, or a pattern such as frames/f_%%04d.png",
    )
    p.add_argument(
        "--person", type=int, default=1, metavar="N", help="which person of each pose file (1 = first)"
    )
    p.add_argument(
        "--checkpoint", metavar="F", help="model checkpoint (.safetensors); default: the bundled model"
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="default: auto")
    p.add_argument(
        "--precision",
        default="auto",
        choices=["auto", "fp32", "bf16", "fp16"],
        help="number format (default: auto)",
    )
    p.add_argument(
        "--composite",
        action="store_true",
        help="write the whole photo with the person re-posed in it (at the photo's resolution) "
        "instead of the square render",
    )
    p.add_argument(
        "--background",
        metavar="IMG",
        help="with --composite: the scene to put the person into (resized to the frame); default: "
        "the appearance photo with its person removed",
    )
    p.add_argument(
        "--no-keep",
        action="store_true",
        help="with --composite, re-posing within one photo: render the whole person, also where the "
        "pose is unchanged (default: the photo's own pixels there, only what moved re-rendered)",
    )
    p.add_argument(
        "--no-carry-limbs",
        action="store_true",
        help="with --composite, re-posing within one photo: render the limbs that moved (default: the "
        "photo's own limbs turned onto their new bones)",
    )
    p.add_argument(
        "--no-borrow-head",
        action="store_true",
        help="with --composite --background: render the head too (default: the appearance photo's own "
        "head is carried onto each pose, where the model's 128-pixel face is a blur)",
    )
    p.add_argument(
        "--no-borrow-body",
        action="store_true",
        help="with --composite --background: render the torso and limbs (default: the appearance "
        "photo's own are carried onto each pose, over the model's blur of them)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks)")
    return p


# --- inputs -------------------------------------------------------------------------------------
def _pick_person(poses: list[Pose], index: int, found_in: str, no_torso: str) -> Pose:
    """Person `index` (1 = first) of `poses`, found in `found_in`; CliError (`no_torso` when
    that person's torso is not visible) if there is no such usable person."""
    if not 1 <= index <= len(poses):
        raise CliError(f"{len(poses)} person(s) in {found_in}, --person {index} asked for")
    pose = poses[index - 1]
    if not pose.renderable():
        raise CliError(no_torso)
    return pose


def _read_pose(path: Path, index: int, image_size: tuple[int, int] | None) -> Pose:
    try:
        poses = read_poses(path, image_size=image_size)
    except PoseFileError as exc:
        raise CliError(f"bad pose file {exc.path}: {exc.problem}") from None
    if not poses:
        raise CliError(f"{path}: no person in the pose file")
    return _pick_person(
        poses,
        index,
        str(path),
        f"{path}: the pose has no torso (both shoulders must be visible)",
    )


def _pose_files(items: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(q for q in p.iterdir() if q.suffix.lower() == ".json" and q.is_file() and not is_temporary(q))
            if not found:
                raise CliError(f"pose folder {p} holds no .json files")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise CliError(f"pose file {p} not found")
    return files


def _estimate_pose(image: np.ndarray, path: str, index: int = 1) -> Pose:
    """The appearance pose from the estimation chain: a pose file beside the photo, else
    openpifpaf (if its checkpoint is here), else the bundled BlazePose."""
    how = "give the pose with --appearance-pose FILE.json (OpenPose, COCO or a pose saved from the app)"
    try:
        from vunet_studio import estimation
    except ImportError as exc:
        raise CliError(f"no pose estimator is available ({exc}); {how}") from None
    try:
        result = estimation.find_people(image, Path(path), estimation.create_chain())
    except estimation.EstimatorUnavailable as exc:
        raise CliError(f"{str(exc).rstrip('.')}. Or {how}") from None
    if result.origin == "template":
        why = " ".join([result.reason, *result.skipped]).rstrip(".")
        raise CliError(f"no pose for {path}: {why}; {how}")
    for line in result.skipped:
        logger.info("%s", line)
    logger.info("%s", result.message)
    # Most prominent first.
    return _pick_person(result.poses, index, path, f"the person found in {path} shows no torso (both shoulders); {how}")


def _composite_scene(
    args: argparse.Namespace,
    image: np.ndarray,
    app_pose: Pose,
    poses: list[Pose],
    background: np.ndarray | None,
) -> tuple[np.ndarray, Box, bool, KeptSource | None, LookSource | None]:
    """The scene every pose is composited onto, the stable box, whether to stay grey and
    the photo's own person to keep where a pose leaves them (`vunet_studio.kept`) or its
    head and body to carry onto each pose (`vunet_studio.borrowed`).

    Re-posing within one photo (the target poses live in the appearance photo's frame), the
    scene is that photo with its person removed and the box the one around its person, so an
    unchanged pose gives back the photo; what did not move stays the photo's own unless
    `--no-keep`. `--background` puts the person into another picture, with the appearance
    photo's head unless `--no-borrow-head` and its torso and limbs unless `--no-borrow-body`.
    """
    h, w = image.shape[:2]
    frames = {tuple(p.image_size or (w, h)) for p in poses}
    if len(frames) > 1:
        raise CliError("--composite needs all target poses in one frame size; render them separately")
    frame_w, frame_h = frames.pop()
    same_photo = (frame_w, frame_h) == (w, h)
    kept: KeptSource | None = None
    borrowed: LookSource | None = None
    if background is not None:
        scene = np.asarray(
            Image.fromarray(background).convert("RGB").resize((frame_w, frame_h), Image.Resampling.BICUBIC)
        )
        if not (args.no_borrow_head and args.no_borrow_body):
            mask = segment_person(image, app_pose).mask
            borrowed = LookSource.of(image, mask, app_pose, head=not args.no_borrow_head, body=not args.no_borrow_body)
    elif same_photo:
        t0 = time.perf_counter()
        seg = segment_person(image, app_pose)
        scene = empty_scene(image, seg.mask).image
        if not args.no_keep:
            kept = KeptSource.of(image, seg.mask, app_pose, limbs=not args.no_carry_limbs)
        logger.info(
            "empty scene of %s in %.0f ms (mask by %s)",
            args.appearance,
            (time.perf_counter() - t0) * 1e3,
            seg.method,
        )
    else:
        raise CliError(
            f"the target poses are in a {frame_w}x{frame_h} frame, not the appearance photo's {w}x{h}: "
            "give the scene to put the person into with --background IMG"
        )
    # The box the model sees: the appearance person's within their own photo (the person
    # keeps their size), else the first target pose's; `repose` extends it for far joints.
    base = pose_box(app_pose) if same_photo else pose_box(poses[0])
    return scene, base, is_grey(scene), kept, borrowed


# --- outputs ------------------------------------------------------------------------------------
def _targets(out: str, pose_files: list[Path]) -> list[Path]:
    """Where each render goes: one file; numbered files from a %d pattern; or a folder."""
    if len(pose_files) == 1 and "%" not in out and not out.endswith(("/", "\\")) and not Path(out).is_dir():
        return [Path(out)]
    if "%" in out:
        try:
            names = [Path(out % i) for i in range(len(pose_files))]
        except (TypeError, ValueError) as exc:
            raise CliError(
                f"output pattern {out!r} is not a printf pattern such as f_%04d.png ({exc})"
            ) from None
        return names
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise CliError(f"several poses need an output folder or a %d pattern, and {folder} is a file")
    stems = [p.stem for p in pose_files]
    if len(set(stems)) != len(stems):  # e.g. a.json from two folders: number them instead
        return [folder / f"{i:04d}_{s}.png" for i, s in enumerate(stems)]
    return [folder / f"{s}.png" for s in stems]


# --- main ---------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    image = load_image(args.appearance)
    h, w = image.shape[:2]
    pose_files = _pose_files(args.pose)
    targets = _targets(args.output, pose_files)
    for t in targets:  # fail before the slow model load
        image_format(t)
    background = load_image(args.background) if args.background else None
    # Target poses are read up front, so a malformed file fails before any output is written.
    # Files with normalised coordinates and no size of their own are taken in the photo's frame.
    poses = [_read_pose(p, args.person, (w, h)) for p in pose_files]
    if args.appearance_pose:
        app_pose = _read_pose(Path(args.appearance_pose), args.person, (w, h))
    else:
        app_pose = _estimate_pose(image, args.appearance, args.person)

    scene, base_box, grey, kept, borrowed = (
        _composite_scene(args, image, app_pose, poses, background)
        if args.composite
        else (None, None, False, None, None)
    )

    t0 = time.perf_counter()
    engine = RenderEngine(
        args.checkpoint, device=args.device, precision=args.precision, warmup=len(poses) > 1
    )
    logger.info("model loaded in %.2f s (%s, %s)", time.perf_counter() - t0, engine.device, engine.precision)
    appearance = engine.encode(AppearanceImage(image, app_pose))

    from tqdm import tqdm

    bar = tqdm(
        total=len(poses),
        unit="pose",
        disable=args.quiet or len(poses) == 1,
        file=sys.stderr,
        desc="rendering",
    )
    with bar:
        for pose, target in zip(poses, targets, strict=True):
            if scene is not None and base_box is not None:
                done = repose(
                    engine, appearance, pose, scene, base_box, grey=grey, kept=kept, borrowed=borrowed
                )
                out, render = done.image, done.render
                assert out is not None  # frame=True: the whole frame
                logger.info("alpha from %s", done.alpha.source)
            else:
                render = engine.render(appearance, pose)
                out = render.image
            write_image(target, out, grey=grey)  # False unless composited into a grey scene
            logger.info("%s: %.1f ms", target, render.ms)
            bar.update(1)
    if len(targets) > 1:
        where = targets[0].parent
        print(f"wrote {len(targets)} images to {where}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)  # exits 2 on bad arguments
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return run(args)
    except ImageLoadError as exc:
        print(f"{PROG}: error: cannot read image {exc.path}: {exc.problem}", file=sys.stderr)
        return 1
    except (CliError, EngineError, ExportError, FramingError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not a user error: still one line unless --verbose
        if args.verbose:
            logger.exception("unexpected error")
        print(
            f"{PROG}: internal error: {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
