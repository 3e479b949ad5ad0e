"""`vunet-eval --photos DIR`: how the app's re-posing holds up on real photos (no ground truth).

    vunet-eval --photos DIR [--checkpoint F] [--json OUT] [--limit N] [--no-progress]

Every photo goes through what the app does with it: its person's pose from the estimation
chain (a pose file beside the photo, else openpifpaf when its checkpoint is here, else the
bundled BlazePose), the person mask (`segmentation.segment_person`) and the empty scene
(`scene.empty_scene`). Renders come from `engine.RenderEngine` (default: the bundled model)
through `composite.repose`: rendered in the stable box around the photo's person and
composited onto the photo's empty scene at its resolution, so the figures are the app's.

For every ordered pair (A, B) of photos whose person shows a full torso, A's person is
re-posed into B's pose, moved into A's frame (`pose_into_frame`: B's torso scaled onto A's):
  pck       pose fidelity: the bundled BlazePose on the model's square render finds the
            target's 12 limb joints (shoulders, elbows, wrists, hips, knees, ankles; those
            visible in the target and inside the photo) within 0.1 x the target joint box's
            height (why the square render and not the composite: `pose_fidelity`),
  pck_full  the same on the composite at the photo's resolution (what the user sees),
  d_own     appearance fidelity: the mean Lab colour (CIE L*a*b*, L in 0..100) of torso,
            arms, thighs and shins, sampled along the bones (`bone_colours`), in the render
            against A's photo: Delta E (CIE76) averaged over the parts both show,
  d_others  the same against every other photo with a person found (upper-body ones too,
            for the parts they show), averaged; ratio = d_own / d_others (lower: the render
            looks like A rather than like the others).
  pck_shown, ratio_shown  the same two on what the app shows for that edit, A re-posed in
            its own photo with its own look: what did not move kept, the moved limbs and the
            head carried from the photo (`vunet_studio.kept`). These measure the app, not
            the model; the figures above measure the model.
Per photo, A rendered in its own pose and composited: recon_ssim_mask, SSIM
(`training.metrics.ssim`) against the photo inside A's person mask, recon_ssim over the
whole photo, and recon_pck / recon_pck_full as above. For grey photos: grey_kept (the
composite the app shows is grey; the app composites grey photos in grey) and model_grey
(the model's own square render is grey: mean chroma inside its alpha below one
just-noticeable difference).
Photos that cannot be used (unreadable, nobody found, no torso: a shoulder missing) are listed with why.
"""

from __future__ import annotations

import argparse
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from training.metrics import ssim
from vunet_studio.composite import Reposed, composite, place, repose
from vunet_studio.engine import AppearanceImage, EngineError, RenderEngine, default_checkpoint
from vunet_studio.estimation import BUNDLED, EstimatorChain, create_chain, find_people
from vunet_studio.fileio import is_temporary
from vunet_studio.framing import pose_box
from vunet_studio.imageio import ImageLoadError, as_rgb_uint8, is_grey, is_image_path, load_image
from vunet_studio.kept import KeptSource
from vunet_studio.pose import Pose
from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import segment_person
from vunet_studio.skeleton import JOINT_INDEX
from vunet_studio.workspace import pose_into_frame

logger = logging.getLogger("vunet-eval")

#: The joints PCK judges: the limbs'. Face joints are left out: BlazePose's face points are
#: the most reliable and would hide whether the body came out in the right pose.
LIMB_JOINTS: tuple[str, ...] = (
    "rshoulder", "relbow", "rwrist", "lshoulder", "lelbow", "lwrist",
    "rhip", "rknee", "rankle", "lhip", "lknee", "lankle",
)  # fmt: skip
PCK_ALPHA = 0.1
#: Bones per part for the colour measure. The torso's are its centre line and two lines a
#: quarter of the way in from the sides: the shoulder-hip lines themselves lie on the outline.
PARTS: dict[str, tuple[tuple[str, str], ...]] = {
    "torso": (("cneck", "midhip"), ("rquarter_s", "rquarter_h"), ("lquarter_s", "lquarter_h")),
    "arms": (("rshoulder", "relbow"), ("relbow", "rwrist"), ("lshoulder", "lelbow"), ("lelbow", "lwrist")),
    "thighs": (("rhip", "rknee"), ("lhip", "lknee")),
    "shins": (("rknee", "rankle"), ("lknee", "lankle")),
}
#: Line width (photo pixels) of the samples along the bones: thin, so a sample stays on the
#: limb even where the joints are a little off.
BONE_WIDTH = 5
#: Share of each bone's length left out at either end: joints are where parts overlap (the
#: arm's top is on the torso's side, the knee between thigh and shin).
BONE_TRIM = 0.15
#: A render is grey when its mean chroma (sqrt(a*^2 + b*^2)) inside the person is below one
#: just-noticeable colour difference (Delta E ~ 2.3).
GREY_CHROMA = 2.3


class PhotoEvalError(Exception):
    """A folder that cannot be evaluated; the message says why."""


# --- measures (pure functions) ----------------------------------------------------------------
def _points(pose: Pose) -> dict[str, np.ndarray]:
    """The visible joints by name, plus the torso's derived points (when it has a full torso)."""
    pts = {n: pose.xy[i].astype(np.float64) for n, i in JOINT_INDEX.items() if pose.visible[i]}
    if pose.has_torso():
        rs, ls, rh, lh = pts["rshoulder"], pts["lshoulder"], pts["rhip"], pts["lhip"]
        pts["cneck"] = (rs + ls) / 2.0
        pts["midhip"] = (rh + lh) / 2.0
        pts["rquarter_s"], pts["rquarter_h"] = rs + 0.25 * (ls - rs), rh + 0.25 * (lh - rh)
        pts["lquarter_s"], pts["lquarter_h"] = ls + 0.25 * (rs - ls), lh + 0.25 * (rh - lh)
    return pts


def bone_colours(
    image: np.ndarray, pose: Pose, mask: np.ndarray | None = None, width: int = BONE_WIDTH
) -> dict[str, list[float] | None]:
    """Mean Lab colour [L, a, b] of each part in `PARTS`, sampled along its bones in `image`.

    image: (H, W, 3) uint8 RGB; pose in its pixels; mask: (H, W) bool, where the person is
    (samples outside it are dropped: a bone a little off the limb would sample the scene).
    A part with no visible bone, or no sample inside the mask, is None.
    """
    h, w = image.shape[:2]
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)  # (H, W, 3) L 0..100
    pts = _points(pose)
    out: dict[str, list[float] | None] = {}
    for part, bones in PARTS.items():
        drawn = np.zeros((h, w), np.uint8)
        for a, b in bones:
            if a not in pts or b not in pts:
                continue
            p, q = pts[a], pts[b]
            p, q = p + BONE_TRIM * (q - p), q - BONE_TRIM * (q - p)
            cv2.line(drawn, tuple(round(v) for v in p), tuple(round(v) for v in q), 1, width)
        keep = drawn.astype(bool)
        if mask is not None:
            keep &= np.asarray(mask, bool)
        out[part] = [float(v) for v in lab[keep].mean(axis=0)] if keep.any() else None
    return out


def colour_distance(a: dict[str, list[float] | None], b: dict[str, list[float] | None]) -> float:
    """Delta E (CIE76) between two `bone_colours`, averaged over the parts both show; NaN if none."""
    d = [float(np.linalg.norm(np.subtract(ca, cb))) for k in PARTS if (ca := a.get(k)) and (cb := b.get(k))]
    return float(np.mean(d)) if d else float("nan")


def judged_joints(target: Pose, size: tuple[int, int]) -> np.ndarray:
    """Indices of the `LIMB_JOINTS` visible in `target` and inside the (W, H) photo: a joint
    moved off the photo cannot be seen, so it is not judged."""
    w, h = size
    return np.array(
        [
            JOINT_INDEX[n]
            for n in LIMB_JOINTS
            if target.visible[JOINT_INDEX[n]]
            and 0 <= target.xy[JOINT_INDEX[n], 0] < w
            and 0 <= target.xy[JOINT_INDEX[n], 1] < h
        ],
        int,
    )


def pck(found: Iterable[Pose], target: Pose, judged: np.ndarray, alpha: float = PCK_ALPHA) -> float:
    """PCK of the best-matching found person against `target` on the `judged` joints.

    Threshold: `alpha` x the height of the target's joint box. A found person missing a
    joint misses it; nobody found scores 0; nothing to judge is NaN.
    """
    box = target.bbox()
    if box is None or not len(judged):
        return float("nan")
    thr = alpha * max(box[3] - box[1], 1.0)
    best = 0.0
    for p in found:  # the estimator may find the scene's other people too: take the target's
        hit = p.visible[judged] & (np.linalg.norm(p.xy[judged] - target.xy[judged], axis=1) <= thr)
        best = max(best, float(hit.mean()))
    return best


def _people(judge: EstimatorChain, image: np.ndarray) -> list[Pose]:
    found = judge.run(image)
    return found.poses if found.origin != "template" else []  # the template is nobody


def pose_fidelity(judge: EstimatorChain, done: Reposed, target: Pose) -> dict[str, Any]:
    """PCK of one re-posed render: on the model's square render (`pck`) and on the composite
    at the photo's resolution (`pck_full`), with the same judged joints.

    `pck` answers the pose question (is the person drawn in the target pose?) on what the
    model made, as the render pane shows it. The composite adds what BlazePose's person
    detector stumbles on, unrelated to the pose: the render upsampled 3-5x into a sharp
    photo, a silhouette alpha for a model without one, and the box's part outside the photo
    repeated from its border when cut back out. Measured with the bundled model on the three
    full-body photos of ../shared/photos: nobody found in any whole composite, a wrong
    person in the box cut from it, every limb joint found in the square render. So the
    composite's figure is reported as `pck_full` (does a detector see a person where the
    user does?), not as the pose fidelity.
    """
    assert done.image is not None  # repose() draws the frame unless frame=False
    h, w = done.image.shape[:2]
    judged = judged_joints(target, (w, h))
    square, full = _people(judge, done.render.image), _people(judge, done.image)
    return {
        "pck": pck(square, done.render.pose, judged),  # the target as the render's square holds it
        "pck_full": pck(full, target, judged),
        "joints": len(judged),
        "found": bool(square),
        "found_full": bool(full),
    }


def mean_chroma(image: np.ndarray, mask: np.ndarray) -> float:
    """Mean Lab chroma sqrt(a*^2 + b*^2) of `image` (uint8 RGB) inside `mask` (bool); NaN if empty."""
    if not np.asarray(mask, bool).any():
        return float("nan")
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    ab = lab[np.asarray(mask, bool)][:, 1:]
    return float(np.sqrt((ab**2).sum(axis=1)).mean())


# --- photos ---------------------------------------------------------------------------------
@dataclass
class Photo:
    """One photo as the app prepares it."""

    name: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    pose: Pose
    pose_source: str
    mask: np.ndarray  # (H, W) bool: the person
    mask_method: str
    colours: dict[str, list[float] | None]
    grey: bool
    scene: np.ndarray | None = None  # the empty scene: only for photos that are re-posed
    person: np.ndarray | None = None  # (H, W) float32 in [0, 1]: the soft mask the app keeps by
    torso: bool = field(init=False)

    def __post_init__(self) -> None:
        self.torso = self.pose.renderable()


def find_photos(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise PhotoEvalError(f"photos folder not found: {folder}")
    files = sorted(f for f in folder.iterdir() if is_image_path(f) and not f.is_dir() and not is_temporary(f))
    if not files:
        raise PhotoEvalError(f"{folder}: no photos (.png, .jpg, ...)")
    return files


def load_photo(path: Path, chain: EstimatorChain) -> Photo | str:
    """The photo with its person, mask and (for a full torso) empty scene; or why it cannot be used."""
    try:
        image = load_image(path)
    except ImageLoadError as exc:
        return f"unreadable: {exc.problem}"
    found = find_people(image, path, chain)
    if found.origin == "template":
        return " ".join([f"no person: {found.reason}", *found.skipped]).strip()
    pose = found.poses[0]  # the most prominent person, as the app picks
    seg = segment_person(image, pose)
    mask = seg.mask > 0.5
    photo = Photo(
        path.name,
        image,
        pose,
        found.source,
        mask,
        seg.method,
        bone_colours(image, pose, mask),
        is_grey(image),
    )
    if photo.torso:
        photo.scene = empty_scene(image, seg.mask).image
        photo.person = seg.mask
    return photo


def _frame_alpha(shape: tuple[int, ...], alpha: np.ndarray, box: tuple[float, float, float]) -> np.ndarray:
    """The render's alpha placed in the photo's frame, as `composite` places it: (H, W) bool."""
    s = alpha.shape[0]
    white = np.full((s, s, 3), 255, np.uint8)
    placed = composite(np.zeros((*shape[:2], 3), np.uint8), white, alpha, box)
    return placed[..., 0] > 127


def _mean(values: Iterable[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _ratio(own: float, others: float) -> float:
    return own / others if math.isfinite(own) and math.isfinite(others) and others > 0 else float("nan")


def _pair_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Pose and appearance fidelity over some re-posed pairs (one photo's, or all of them)."""
    own, others = _mean(q["d_own"] for q in rows), _mean(q["d_others"] for q in rows)
    own_shown = _mean(q.get("d_own_shown", math.nan) for q in rows)
    others_shown = _mean(q.get("d_others_shown", math.nan) for q in rows)
    return {
        "pairs": len(rows),
        "pck": _mean(q["pck"] for q in rows),
        "pck_full": _mean(q["pck_full"] for q in rows),
        "d_own": own,
        "d_others": others,
        "ratio": _ratio(own, others),
        "pck_shown": _mean(q.get("pck_shown", math.nan) for q in rows),
        "ratio_shown": _ratio(own_shown, others_shown),
    }


def evaluate_photos(
    folder: Path,
    checkpoint: Path | None = None,
    *,
    device: str = "auto",
    limit: int | None = None,
    progress: bool = False,
    chain: EstimatorChain | None = None,
    judge: EstimatorChain | None = None,
) -> dict[str, Any]:
    """The report (see the module docstring); PhotoEvalError when nothing can be evaluated.

    chain: finds each photo's person (default: the app's chain); judge: finds the person in
    each render for PCK (default: the bundled BlazePose alone, whatever the chain chose).
    """
    files = find_photos(folder)[: limit or None]
    chain = chain or create_chain()
    photos: list[Photo] = []
    skipped: list[dict[str, str]] = []
    for f in files:
        got = load_photo(f, chain)
        if isinstance(got, str):
            logger.warning("skipping %s: %s", f.name, got)
            skipped.append({"photo": f.name, "reason": got})
            continue
        photos.append(got)
        if not got.torso:
            why = "no torso (the model needs both shoulders): not re-posed"
            logger.warning("%s: %s", f.name, why)
            skipped.append({"photo": f.name, "reason": why})
    used = [p for p in photos if p.torso]
    if not used:
        raise PhotoEvalError(f"{folder}: no photo shows a person with a full torso ({len(files)} looked at)")
    if judge is None:
        from vunet_studio.estimation import blazepose_backend

        judge = chain if chain.name == blazepose_backend.NAME else create_chain(BUNDLED, fallback=False)
    try:
        engine = RenderEngine(checkpoint, device=device, warmup=False)
    except EngineError as exc:
        raise PhotoEvalError(str(exc)) from exc

    jobs = [(a, b) for a in used for b in used]  # (a, a): the reconstruction
    it: Any = jobs
    if progress:
        from tqdm import tqdm

        it = tqdm(jobs, unit="render", desc="re-posing")
    pairs: list[dict[str, Any]] = []
    recon: dict[str, dict[str, Any]] = {}
    for a, b in it:
        assert a.scene is not None
        appearance = engine.encode(AppearanceImage(a.image, a.pose))  # cached per photo
        target = a.pose if a is b else pose_into_frame(b.pose, a.pose)
        done = repose(engine, appearance, target, a.scene, pose_box(a.pose), grey=a.grey)
        assert done.image is not None  # repose() draws the frame unless frame=False
        fidelity = pose_fidelity(judge, done, target)
        if a is b:
            model_alpha = done.alpha.mask > 0.5
            chroma = mean_chroma(done.render.image, model_alpha)
            model_grey = bool(chroma < GREY_CHROMA) if a.grey and math.isfinite(chroma) else None
            recon[a.name] = {
                "recon_ssim_mask": ssim(done.image, a.image, a.mask),
                "recon_ssim": ssim(done.image, a.image),
                "recon_pck": fidelity["pck"],
                "recon_pck_full": fidelity["pck_full"],
                "render_chroma": chroma,
                "grey_kept": is_grey(done.image) if a.grey else None,
                "model_grey": model_grey,
                "alpha": done.alpha.source,
            }
            continue
        colours = bone_colours(
            done.image, target, _frame_alpha(a.image.shape, done.alpha.mask, done.render.box)
        )
        each = {o.name: colour_distance(colours, o.colours) for o in photos}
        own = each[a.name]
        others = _mean(d for name, d in each.items() if name != a.name)
        # As the app shows it: the photo's own person kept, limbs and head carried.
        shown: dict[str, float] = {"pck_shown": float("nan"), "d_own_shown": float("nan")}
        kept = None if a.person is None else KeptSource.of(a.image, a.person, a.pose)
        if kept is not None:
            app = place(done.render, target, a.scene, grey=a.grey, kept=kept)  # the same render, kept
            assert app.image is not None
            h, w = app.image.shape[:2]
            shown["pck_shown"] = pck(_people(judge, app.image), target, judged_joints(target, (w, h)))
            in_frame = _frame_alpha(a.image.shape, app.alpha.mask, app.render.box)
            seen = bone_colours(as_rgb_uint8(app.image), target, in_frame)
            shown["d_own_shown"] = colour_distance(seen, a.colours)
            shown["d_others_shown"] = _mean(colour_distance(seen, o.colours) for o in photos if o is not a)
        pairs.append(
            {
                "appearance": a.name,
                "pose": b.name,
                **fidelity,
                "d_own": own,
                "d_others": others,
                "ratio": _ratio(own, others),
                **shown,
                "d_each": each,  # to every photo with a person: for other choices of "others"
            }
        )

    per_photo = []
    for p in used:
        mine = [q for q in pairs if q["appearance"] == p.name]
        per_photo.append(
            {
                "photo": p.name,
                "size": [int(p.image.shape[1]), int(p.image.shape[0])],
                "pose_source": p.pose_source,
                "mask_method": p.mask_method,
                "grey": p.grey,
                **_pair_stats(mine),
                **recon[p.name],
            }
        )
    greys = [r for r in per_photo if r["grey"]]
    summary = {
        **_pair_stats(pairs),
        "recon_ssim_mask": _mean(r["recon_ssim_mask"] for r in per_photo),
        "recon_ssim": _mean(r["recon_ssim"] for r in per_photo),
        "recon_pck": _mean(r["recon_pck"] for r in per_photo),
        "recon_pck_full": _mean(r["recon_pck_full"] for r in per_photo),
        "grey_photos": len(greys),
        "grey_kept": sum(bool(r["grey_kept"]) for r in greys),
        "model_grey": sum(bool(r["model_grey"]) for r in greys),
    }
    return {
        "checkpoint": str(checkpoint or default_checkpoint()),
        "step": engine.info.step if engine.info else None,
        "photos_dir": str(folder),
        "pose_estimator": chain.name or "pose files",
        "judge": judge.name,
        "alpha": per_photo[0]["alpha"],
        "summary": summary,
        "per_photo": per_photo,
        "pairs": pairs,
        "skipped": skipped,
    }


# --- the command line -------------------------------------------------------------------------
_COLS: Sequence[tuple[str, str, int, int]] = (  # (key, heading, width, decimals)
    ("pairs", "pairs", 6, -1),
    ("pck", "pck@0.1", 8, 3),
    ("pck_full", "pck_full", 9, 3),
    ("d_own", "d_own", 7, 2),
    ("d_others", "d_others", 9, 2),
    ("ratio", "ratio", 7, 3),
    ("pck_shown", "pck_shown", 10, 3),
    ("ratio_shown", "ratio_shown", 12, 3),
    ("recon_ssim_mask", "rec_ssim_m", 11, 3),
    ("recon_ssim", "rec_ssim", 9, 3),
    ("recon_pck", "rec_pck", 8, 3),
)


def _cell(value: Any, width: int, decimals: int) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return f"{'-':>{width}s}"
    return f"{int(value):{width}d}" if decimals < 0 else f"{float(value):{width}.{decimals}f}"


def _row(name: str, values: dict[str, Any]) -> str:
    # .get: a report written before a column existed (`--json` of an older run) still prints.
    return f"{name[:18]:18s}" + "".join(_cell(values.get(k), w, d) for k, _, w, d in _COLS)


def _grey(row: dict[str, Any]) -> str:
    if not row["grey"]:
        return "colour"
    yes = {True: "yes", False: "NO", None: "-"}
    return f"kept {yes[row['grey_kept']]}, model {yes[row['model_grey']]}"


def format_photo_table(report: dict[str, Any]) -> str:
    lines = [f"{'photo':18s}" + "".join(f"{h:>{w}s}" for _, h, w, _ in _COLS) + "  grey"]
    lines += [_row(r["photo"], r) + "  " + _grey(r) for r in report["per_photo"]]
    s = report["summary"]
    n = s["grey_photos"]
    grey = f"kept {s['grey_kept']}/{n}, model {s['model_grey']}/{n}" if n else ""
    lines.append(_row("mean", s) + "  " + grey)
    for sk in report["skipped"]:
        lines.append(f"skipped {sk['photo']}: {sk['reason']}")
    lines.append(
        f"{s['pairs']} ordered pairs of {len(report['per_photo'])} photos; checkpoint "
        f"{Path(report['checkpoint']).name} step {report['step']}; alpha from {report['alpha']}; "
        f"poses by {report['pose_estimator']}, PCK by {report['judge']}"
    )
    return "\n".join(lines)


def run_photos(args: argparse.Namespace) -> int:
    """`vunet-eval --photos`: called by `training.evaluate.main` with its parsed arguments."""
    try:
        report = evaluate_photos(
            args.photos, args.checkpoint, device=args.device, limit=args.limit, progress=not args.no_progress
        )
    except PhotoEvalError as exc:
        logger.error("%s", exc)
        return 2
    print(format_photo_table(report))  # noqa: T201 - the CLI's result table, on stdout
    from training.evaluate import write_report

    return write_report(args.json, report)
