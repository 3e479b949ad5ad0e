"""The one estimation chain the app, `vunet-studio render` and `vunet-prepare` share.

For a photo, in order: a pose file beside it; openpifpaf when its checkpoint is on this
computer (openpifpaf's cache, or a file the user chose; in "auto" nothing is downloaded);
the bundled BlazePose; else the template, with the reason. Each result says which source
found the pose, how long it took, and why a preferred source was skipped.

Qt-free. Building a backend imports it (seconds for openpifpaf, about one for mediapipe),
so build and call the chain off the GUI thread.
"""

from __future__ import annotations

import glob
import importlib.util
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from vunet_studio.estimation.base import DEFAULT_THRESHOLD, EstimatorUnavailable, PoseEstimator
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses

log = logging.getLogger(__name__)

AUTO, OPENPIFPAF, BUNDLED = "auto", "openpifpaf", "blazepose"
#: What Preferences and the command lines offer, in that order.
ESTIMATOR_CHOICES: tuple[str, ...] = (AUTO, OPENPIFPAF, BUNDLED)
ESTIMATOR_LABELS: dict[str, str] = {
    AUTO: "Automatic: openpifpaf if its checkpoint is here, else the bundled BlazePose",
    OPENPIFPAF: "openpifpaf (several people; downloads its checkpoint once if needed)",
    BUNDLED: "BlazePose (bundled, offline)",
}
DEFAULT_OPENPIFPAF_CHECKPOINT = "shufflenetv2k16"

Origin = Literal["file", "estimated", "template"]
#: (name shown to the user, a function that builds the estimator or raises EstimatorUnavailable)
Candidate = tuple[str, Callable[[], PoseEstimator]]


@dataclass
class Estimation:
    """Where a photo's people came from.

    poses: every person found, largest first (the template alone when origin is "template").
    source: who found them ("BlazePose (bundled)", "pose file a.json", "" for the template).
    ms: time the estimator (or reading the file) took for this photo.
    skipped: one sentence per preferred source not used, and why.
    single_person: the estimator looked for one person only (others may be in the photo).
    reason: why the template was used ("" otherwise).
    """

    poses: list[Pose]
    origin: Origin
    source: str = ""
    ms: float = 0.0
    skipped: list[str] = field(default_factory=list)
    single_person: bool = False
    reason: str = ""

    @property
    def message(self) -> str:
        """One short line for the status bar."""
        if self.origin == "file":
            text = f"Pose read from {self.source.removeprefix('pose file ')}"
        elif self.origin == "estimated":
            text = f"Pose found by {self.source} in {self.ms:.0f} ms"
        else:
            return f"Template pose used: {self.reason}"
        n = len(self.poses)
        if n > 1:
            text += f"; {n} people found"
        elif self.single_person:
            text += " (it looks for one person only)"
        return text

    @property
    def details(self) -> str:
        """Everything, for a tooltip and the log: the message and every skipped source."""
        return "\n".join([self.message, *self.skipped])


def sidecar_pose_path(photo: Path) -> Path | None:
    """The pose file beside a photo: `a.json` or `a.pose.json` for `a.jpg`."""
    for suffix in (".json", ".pose.json"):
        candidate = photo.with_name(photo.stem + suffix)
        if candidate.is_file():
            return candidate
    return None


def template_pose(width: int, height: int) -> Pose:
    """The template standing in the middle of the photo, 90 % of its height."""
    return Pose.template(width, height, (0.05 * width, 0.05 * height, 0.9 * width, 0.9 * height))


# --- openpifpaf, without downloads or imports unless it can work ---------------------------
def _looks_like_file(checkpoint: str) -> bool:
    return "/" in checkpoint or "\\" in checkpoint or Path(checkpoint).suffix != ""


def torch_hub_dir() -> Path:
    """Where torch.hub keeps downloads (`torch.hub.get_dir()`), found as torch finds it but
    without importing torch: the app's window process never needs torch (the model renders
    in a process of its own), and importing it there cost seconds and hundreds of MB."""
    home = os.getenv("TORCH_HOME", os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"))
    return Path(os.path.expanduser(home)) / "hub"


def openpifpaf_offline_problem(checkpoint: str) -> str:
    """Why openpifpaf cannot run offline with `checkpoint` ("" when it may). Cheap: it imports
    neither openpifpaf nor torch, so "auto" costs nothing where it is absent."""
    if importlib.util.find_spec("openpifpaf") is None:
        return "openpifpaf skipped: it is not installed."
    if _looks_like_file(checkpoint) or Path(checkpoint).expanduser().is_file():
        if not Path(checkpoint).expanduser().is_file():
            return f"openpifpaf skipped: the checkpoint file {checkpoint} does not exist."
        return ""
    folder = torch_hub_dir() / "checkpoints"
    # openpifpaf caches `<name>-<date>-...-<hash>.pkl`; the backend does the exact check.
    if not glob.glob(str(folder / f"{glob.escape(checkpoint)}-*")):
        return (
            f"openpifpaf skipped: its checkpoint '{checkpoint}' is not downloaded "
            "(choose a checkpoint file, or choose openpifpaf to download it once)."
        )
    return ""


class EstimatorChain:
    """The first estimator that can run, built once, behind the `PoseEstimator` interface.

    choice: "auto" (openpifpaf if its checkpoint is here, never downloading; else BlazePose),
        "openpifpaf" (downloading its checkpoint if needed; BlazePose if that fails) or
        "blazepose" (the bundled one; openpifpaf if mediapipe is missing).
    fallback: False uses only the chosen estimator (for tools where a silent switch would
        change the data made).
    openpifpaf_factory / bundled_factory: replace the real backends (tests).

    Thread-safe: building is locked; calls go to the backend, which has its own lock.
    """

    @classmethod
    def wrapping(cls, estimator: PoseEstimator, name: str) -> EstimatorChain:
        """A chain that is just `estimator` (already built), reported as `name`."""
        chain = cls(fallback=False)
        chain._estimator, chain.name = estimator, name
        return chain

    def __init__(
        self,
        choice: str = AUTO,
        checkpoint: str = "",
        device: str = "auto",
        *,
        threshold: float = DEFAULT_THRESHOLD,
        fallback: bool = True,
        openpifpaf_factory: Callable[[], PoseEstimator] | None = None,
        bundled_factory: Callable[[], PoseEstimator] | None = None,
    ) -> None:
        if choice not in ESTIMATOR_CHOICES:
            raise EstimatorUnavailable(
                f"'{choice}' is not a pose estimator; choose one of {', '.join(ESTIMATOR_CHOICES)}."
            )
        self.choice = choice
        self.checkpoint = checkpoint or DEFAULT_OPENPIFPAF_CHECKPOINT
        self.device = device
        self.threshold = threshold
        self.fallback = fallback
        self._openpifpaf_factory = openpifpaf_factory
        self._bundled_factory = bundled_factory
        self._lock = threading.Lock()
        self._estimator: PoseEstimator | None = None
        self._failure: EstimatorUnavailable | None = None
        self.name = ""
        self.skipped: list[str] = []

    # --- building -----------------------------------------------------------------------
    def _openpifpaf(self, allow_download: bool) -> Candidate:
        label = f"openpifpaf ({Path(self.checkpoint).name})"

        def make() -> PoseEstimator:
            if self._openpifpaf_factory is not None:
                return self._openpifpaf_factory()
            if not allow_download:
                problem = openpifpaf_offline_problem(self.checkpoint)
                if problem:
                    raise EstimatorUnavailable(problem)
            from vunet_studio.estimation import create_estimator

            return create_estimator(
                self.checkpoint, self.device, threshold=self.threshold, allow_download=allow_download
            )

        return label, make

    def _bundled(self) -> Candidate:
        from vunet_studio.estimation import blazepose_backend

        return blazepose_backend.NAME, self._bundled_factory or blazepose_backend.create

    def candidates(self) -> list[Candidate]:
        """The estimators to try, best first."""
        if self.choice == OPENPIFPAF:
            order = [self._openpifpaf(allow_download=True), self._bundled()]
        elif self.choice == BUNDLED:
            order = [self._bundled(), self._openpifpaf(allow_download=False)]
        else:
            order = [self._openpifpaf(allow_download=False), self._bundled()]
        return order if self.fallback else order[:1]

    def build(self) -> PoseEstimator:
        """The estimator (built on the first call); EstimatorUnavailable saying why each failed."""
        with self._lock:
            if self._estimator is not None:
                return self._estimator
            if self._failure is not None:  # don't retry (and re-import) on every photo
                raise self._failure
            skipped: list[str] = []
            for name, make in self.candidates():
                t0 = time.perf_counter()
                try:
                    est = make()
                except EstimatorUnavailable as e:
                    reason = str(e)
                    skipped.append(
                        reason if reason.startswith(name.split()[0]) else f"{name} skipped: {reason}"
                    )
                    log.info("pose estimator %s unavailable: %s", name, reason)
                    continue
                except Exception as e:  # an estimator's bug must not take the app down
                    log.exception("pose estimator %s failed to start", name)
                    skipped.append(f"{name} skipped: it failed to start ({type(e).__name__}: {e}).")
                    continue
                log.info("pose estimator: %s (ready in %.2f s)", name, time.perf_counter() - t0)
                self._estimator, self.name, self.skipped = est, name, skipped
                return est
            self.skipped = skipped
            self._failure = EstimatorUnavailable(" ".join(skipped) or "No pose estimator is available.")
            raise self._failure

    # --- estimating ---------------------------------------------------------------------
    def estimate(self, image_rgb_uint8: np.ndarray) -> list[Pose]:
        """`PoseEstimator.estimate`: all people, largest first. Raises EstimatorUnavailable."""
        return list(self.build().estimate(image_rgb_uint8))

    def run(self, image: np.ndarray) -> Estimation:
        """The people in `image` with who found them; the template (and why) when nobody is."""
        h, w = image.shape[:2]
        try:
            est = self.build()
        except EstimatorUnavailable as e:
            log.info("no pose estimator: %s", e)
            return Estimation(
                [template_pose(w, h)],
                "template",
                skipped=list(self.skipped),
                reason="no pose estimator could start.",
            )
        t0 = time.perf_counter()
        try:
            poses = [p for p in est.estimate(image) if p.visible.any()]
        except Exception as e:  # a photo the backend chokes on gets the template, not a traceback
            log.exception("pose estimation failed on a %d x %d photo", w, h)
            return Estimation(
                [template_pose(w, h)],
                "template",
                skipped=list(self.skipped),
                reason=f"{self.name} failed on this photo ({type(e).__name__}).",
            )
        ms = (time.perf_counter() - t0) * 1000.0
        single = bool(getattr(est, "single_person", False))
        if not poses:
            why = f"no person found by {self.name}"
            if min(w, h) < 32:
                why += f" (the photo is only {w} x {h} pixels)"
            return Estimation(
                [template_pose(w, h)], "template", self.name, ms, list(self.skipped), single, why + "."
            )
        poses = [p.with_image_size((w, h)) for p in poses]
        return Estimation(poses, "estimated", self.name, ms, list(self.skipped), single)


def find_people(image: np.ndarray, photo: Path | None, chain: EstimatorChain | None) -> Estimation:
    """The whole chain for one photo: its pose file, else `chain`, else the template."""
    h, w = image.shape[:2]
    notes: list[str] = []
    sidecar = sidecar_pose_path(photo) if photo is not None else None
    if sidecar is not None:
        t0 = time.perf_counter()
        try:
            poses = [q for q in read_poses(sidecar, (w, h)) if q.visible.any()]
        except PoseFileError as e:
            notes.append(f"Ignored {sidecar.name}: {e.problem}")
        else:
            if poses:
                from vunet_studio.estimation.base import largest_first

                poses = [p.with_image_size((w, h)) for p in largest_first(poses)]
                ms = (time.perf_counter() - t0) * 1000.0
                return Estimation(poses, "file", f"pose file {sidecar.name}", ms)
            notes.append(f"{sidecar.name} has no person.")
    if chain is None:
        return Estimation([template_pose(w, h)], "template", skipped=notes, reason="no pose estimator.")
    result = chain.run(image)
    result.skipped = notes + result.skipped
    return result


def create_chain(
    choice: str = AUTO,
    checkpoint: str | None = None,
    device: str = "auto",
    *,
    threshold: float = DEFAULT_THRESHOLD,
    fallback: bool = True,
) -> EstimatorChain:
    """The estimation chain (cheap: nothing is imported or built until the first photo)."""
    return EstimatorChain(choice, checkpoint or "", device, threshold=threshold, fallback=fallback)


def build_tool_chain(
    checkpoint: str | None = None, device: str = "auto", *, threshold: float = DEFAULT_THRESHOLD
) -> EstimatorChain:
    """The chain a batch tool (`vunet-prepare`) uses, built now so that a failure comes before
    any output. An explicit openpifpaf checkpoint means openpifpaf only: silently switching
    estimators would change the data made. Raises EstimatorUnavailable."""
    chain = EstimatorChain(
        OPENPIFPAF if checkpoint else AUTO,
        checkpoint or "",
        device,
        threshold=threshold,
        fallback=not checkpoint,
    )
    chain.build()
    return chain
