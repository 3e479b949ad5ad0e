"""The render engine: the one object the app and the command line use to re-pose people.

Qt-free. `RenderEngine` loads a checkpoint once (folding weight norm, picking the device and
number format), encodes an appearance image once (F_phi; the app's one appearance cache,
keyed by what was encoded), and renders many poses fast (E_theta + D_theta only, see
`vunet_studio.fastpath`).

Frames: every pose is in the pixels of its own image (an `AppearanceImage`'s photo, or whatever
frame the caller edits in). The model sees S x S images (S = `image_size`), so the engine frames
the person as `vunet_studio.framing` does for every path (the box around the joints, as
people are framed in the training data): it crops the appearance's box to S x S for F_phi's
part crops, and for a render moves the target pose into the box around *that* pose (or the
caller's box) once and draws its stickman there. `Render.box` says where in the pose's frame
the render belongs (`vunet_studio.composite` blends it there, `framing.paste` pastes it).

Thread safety: one lock serialises model calls and the cache, so a single worker thread (the
GUI's) can call while another thread reads results; calls from several threads are safe but
run one at a time.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vunet_studio.devices import DeviceError, resolve_device, resolve_precision
from vunet_studio.fastpath import FastVUNet, Prepared, physical_cores
from vunet_studio.framing import Box, FramingError, crop, pose_box, pose_in_box
from vunet_studio.model import CheckpointError, CheckpointInfo, VUNet, load_checkpoint
from vunet_studio.model_inputs import (
    appearance_input,
    mix_appearance,
    shape_input,
    tensor_to_alpha,
    tensor_to_image,
)
from vunet_studio.pose import Pose
from vunet_studio.renderer import (  # the engine's data, torch-free, where the app reads them
    Appearance,
    AppearanceImage,
    EngineError,
    ProgressFn,
    Render,
    appearance_images,
    appearance_key,
    default_checkpoint,
    mixed_key,
    rgb_photo,
)
from vunet_studio.threads import PROBE_GAIN, ThreadTuner, other_load_since_last_call

logger = logging.getLogger(__name__)

#: Encoded appearances kept (each is a few KB of latents), appearance images and prior samples alike.
CACHE_SIZE = 64




def _model_pose(pose: Pose, what: str) -> Pose:
    """`pose` as the model sees it: a portrait's hips inferred (`Pose.with_inferred_hips`);
    EngineError when even that leaves no torso (a shoulder is missing)."""
    completed = pose.with_inferred_hips()
    if not completed.has_torso():
        raise EngineError(f"The {what} has no torso: both shoulders must be visible to render a person.")
    return completed


@dataclass(frozen=True)
class _Latents:
    """What `Appearance.latents` holds: float32 latents and the fast net's per-appearance terms."""

    means: tuple[torch.Tensor, ...]  # per latent scale, lowest first: (1, L, h, w) float32 on CPU
    prepared: Prepared
    #: F_phi's input (C, P, P), kept for models with `warped_parts` (each render warps its
    #: crops onto the pose); None for appearances without an image (prior samples, raw latents).
    parts: torch.Tensor | None = None


class RenderEngine:
    """Loads a checkpoint once; `encode` an appearance image once; `render` many poses fast.

    checkpoint: a `.safetensors` file from `save_checkpoint` (default: the bundled model).
    device: 'auto' (CUDA when present, else CPU), 'cpu' or 'cuda'.
    precision: 'auto' (bf16 on CPUs with native bf16, fp16 on CUDA, else fp32), 'fp32', 'bf16', 'fp16'.
    threads: CPU threads for torch (torch's setting is process-wide). Default: the physical
        cores, or 1 when the warm-up measures 1 to be faster (another process busy on a core).
    warmup: run dummy renders while loading, so the first real one is fast.
    model: use this VUNet (copied) instead of reading a checkpoint.
    also_ours: processes whose CPU time the thread tuner counts as this one's, not as another
        process's load (the app's, for an engine in a process of its own: `render_process`).
    """

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        progress: ProgressFn | None = None,
        *,
        precision: str = "auto",
        threads: int | None = None,
        warmup: bool = True,
        model: VUNet | None = None,
        also_ours: Sequence[int] = (),
    ) -> None:
        self._progress = progress or (lambda fraction, message: None)
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, Appearance] = OrderedDict()
        path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
        self.checkpoint: Path | None = None if model is not None else path
        try:
            dev = resolve_device(device)
            self.precision = resolve_precision(precision, dev)
        except DeviceError as exc:
            raise EngineError(f"{exc}.") from None
        self.device = str(dev)
        self._device_type = dev.type
        if dev.type == "cpu":
            n = threads or physical_cores()
            if torch.get_num_threads() != n:
                torch.set_num_threads(n)
        self._auto_threads = dev.type == "cpu" and threads is None and physical_cores() > 1
        self.threads: int = torch.get_num_threads()
        self._tuner: ThreadTuner | None = None  # set once warmed up
        self.info: CheckpointInfo | None = None
        if model is not None:  # an in-memory model (benchmarks, training previews); never modified
            self._step(0.0, "Copying the model")
            self._model = copy.deepcopy(model).eval()
        else:
            self._step(0.0, f"Reading model {path.name}")
            self._model, self.info = self._load(path, checkpoint is None)
        self.config = self._model.config
        self.image_size: int = self.config.image_size
        self._step(0.4, "Preparing the model for fast rendering")
        # The fp32 folded model serves the prior (sampling); it is rarely used and stays fp32.
        self._model.fold_weight_norm()
        self._model.to(dev)
        self._net = FastVUNet(self._model, precision=self.precision, device=dev)
        if warmup:
            self._step(0.7, "Warming up")
            self._warmup()
        # The load changes while the app runs: the count picked above is only a start.
        self._tuner = (
            ThreadTuner(physical_cores(), self.threads, other_load=other_load_since_last_call(also_ours))
            if self._auto_threads
            else None
        )
        self._step(1.0, "Ready")
        logger.info(
            "engine ready: %s, %dx%d, %s on %s, %d threads",
            self.checkpoint.name if self.checkpoint else "in-memory model",
            self.image_size,
            self.image_size,
            self.precision,
            self.device,
            torch.get_num_threads(),
        )

    # --- loading -----------------------------------------------------------------------------
    def _step(self, fraction: float, message: str) -> None:
        try:
            self._progress(fraction, message)
        except Exception:  # a broken progress callback must not break loading
            logger.exception("progress callback failed")

    @staticmethod
    def _load(path: Path, is_default: bool) -> tuple[VUNet, CheckpointInfo]:
        if not path.exists():
            if is_default:
                raise EngineError(
                    f"The bundled model {path} is missing: it comes with a checkout of VUNet "
                    "Studio (resources/models/), not with an installed package. Run from the "
                    "checkout or choose a checkpoint (.safetensors) explicitly."
                )
            raise EngineError(f"Model file {path} not found: check the path.")
        try:
            return load_checkpoint(path, device="cpu")
        except CheckpointError as exc:
            raise EngineError(
                f"Cannot load the model {path}: {exc.problem}. Choose a checkpoint written by "
                "vunet-train or vunet-export."
            ) from None
        except (OSError, MemoryError) as exc:
            raise EngineError(f"Cannot read the model {path}: {exc}.") from None

    def _warmup(self) -> None:
        s = self.image_size
        pose = Pose.template(s, s)
        img = np.full((s, s, 3), 127, np.uint8)
        with self._lock:
            parts = appearance_input(img, pose, self.config)  # (C, P, P)
            prepared = self._net.prepare(self._net.encode(parts[None]))
            shape = shape_input(pose, parts, self.config)[None]  # (1, 3 or 7, S, S)
            for _ in range(2):  # oneDNN builds its kernels on the first call(s)
                self._net.decode(shape, prepared)
            if self._auto_threads:
                self._pick_threads(lambda: self._net.decode(shape, prepared))

    def _pick_threads(self, edit: Callable[[], object], rounds: int = 3) -> None:
        """Keep all physical cores, or drop to 1 thread when that renders faster.

        On an idle machine 2 threads are ~1.8x faster than 1; but when another process keeps a
        core busy, every parallel op waits for the descheduled thread and a pose edit got
        8x slower (measured: 1160 ms vs 150 ms at 128, official widths, with training running).
        """
        n = torch.get_num_threads()
        times: dict[int, list[float]] = {n: [], 1: []}
        for _ in range(rounds):
            for k in (n, 1):
                torch.set_num_threads(k)
                t = time.perf_counter()
                edit()
                times[k].append(time.perf_counter() - t)
        med = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        # All cores only when clearly faster (the tuner's bar for a probe, PROBE_GAIN): the
        # default model gains ~10% from a second core when quiet, and loses 5-20x the moment
        # another process wants one; one thread starts a drag safe, and the tuner adds threads
        # when it measures them clearly faster.
        best = n if med[n] <= PROBE_GAIN * med[1] else 1
        torch.set_num_threads(best)
        self.threads = best
        logger.info(
            "threads: %d (median edit %.1f ms with %d, %.1f ms with 1)",
            best,
            1e3 * sorted(times[n])[rounds // 2],
            n,
            1e3 * sorted(times[1])[rounds // 2],
        )

    def _ensure_threads(self, render: bool = False) -> int:
        """torch's thread count is per OS thread here (OpenMP): the app may load on one thread
        and render on another, so apply the engine's choice on whichever thread calls. A
        render may try more threads (`ThreadTuner`); returns the count used."""
        if self._device_type != "cpu":
            return self.threads
        n = self._tuner.next_threads() if render and self._tuner is not None else self.threads
        if torch.get_num_threads() != n:
            torch.set_num_threads(n)
        return n

    def watch_load(self) -> None:
        """Between renders: keep the thread tuner's view of the machine's load fresh (the
        render worker calls it every ~0.25 s), so the first render after a pause does not
        start on threads another process has taken."""
        if self._tuner is not None:
            with self._lock:  # the tuner's state is only touched under the render lock
                self._tuner.watch()
                self.threads = self._tuner.threads

    def _measured(self, threads: int, wall_s: float, cpu_s: float) -> None:
        if self._tuner is not None:
            self._tuner.record(threads, wall_s, cpu_s)
            self.threads = self._tuner.threads

    # --- appearance --------------------------------------------------------------------------
    def appearance_input(self, appearance: AppearanceImage) -> torch.Tensor:
        """F_phi's input (C, P, P) for one appearance image: the box around the person, then
        the part crops (`model_inputs.appearance_input`)."""
        img = rgb_photo(appearance.image)
        h, w = img.shape[:2]
        pose = appearance.pose
        if pose.image_size is not None and tuple(pose.image_size) != (w, h):
            pose = pose.scaled(w / pose.image_size[0], h / pose.image_size[1])
        model_pose = _model_pose(pose, "appearance pose")
        s = self.image_size
        try:
            square, cut = crop(img, pose_box(model_pose), s)
        except FramingError as exc:
            raise EngineError(str(exc)) from None
        return appearance_input(square, pose_in_box(model_pose, cut, s), self.config)

    def encode(self, appearance: AppearanceImage | Sequence[AppearanceImage]) -> Appearance:
        """One appearance image, or 8 (one per body part in `skeleton.PART_NAMES` order) to mix parts."""
        images = appearance_images(appearance)
        keys = [appearance_key(s) for s in images]
        key = mixed_key(keys)
        with self._lock:
            hit = self._cached(key)
            if hit is not None:
                return hit
            t0 = time.perf_counter()
            self._ensure_threads()
            built: dict[str, torch.Tensor] = {}
            for k, s in zip(keys, images, strict=True):
                if k not in built:  # one cropping pass per distinct photo
                    built[k] = self.appearance_input(s)
            if len(built) == 1:
                parts = next(iter(built.values()))  # (C, P, P)
            else:
                order = list(built)
                parts = mix_appearance(list(built.values()), [order.index(k) for k in keys])  # (C, P, P)
            means = self._net.encode(parts[None])  # per scale (1, L, h, w)
            app = self._keep(self._make_appearance(key, means, parts))
            logger.debug("encoded appearance %s in %.1f ms", key[:12], (time.perf_counter() - t0) * 1e3)
            return app

    def _cached(self, key: str) -> Appearance | None:
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
        return hit

    def _keep(self, app: Appearance) -> Appearance:
        self._cache[app.key] = app
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return app

    def _make_appearance(
        self, key: str, means: list[torch.Tensor], parts: torch.Tensor | None = None
    ) -> Appearance:
        cpu = tuple(m.detach().float().cpu() for m in means)
        kept = parts if self.config.warped_parts else None
        return Appearance(_Latents(cpu, self._net.prepare(list(means)), kept), key)

    def appearance_from_latents(self, latents: Sequence[torch.Tensor], key: str = "latents") -> Appearance:
        """An appearance from raw latents (per latent scale, lowest first, (1, L, h, w) or (L, h, w))."""
        shapes = self.config.latent_shapes
        if len(latents) != len(shapes):
            raise EngineError(f"Expected {len(shapes)} latent tensors, got {len(latents)}.")
        zs = []
        for z, shape in zip(latents, shapes, strict=True):
            z = torch.as_tensor(z, dtype=torch.float32)
            z = z[None] if z.dim() == 3 else z
            if tuple(z.shape) != (1, *shape):
                raise EngineError(
                    f"Latent of shape {tuple(z.shape)} does not fit this model ({(1, *shape)})."
                )
            zs.append(z)
        with self._lock:
            return self._make_appearance(key, zs)

    def sample_appearance(self, pose: Pose, seed: int) -> Appearance:
        """A random appearance from the prior p(z | stickman of `pose`); cached like `encode`
        (the same pose and seed draw the same latents)."""
        model_pose = _model_pose(pose, "pose")
        h = hashlib.blake2b(np.ascontiguousarray(pose.xy).tobytes(), digest_size=8)
        h.update(np.ascontiguousarray(pose.visible).tobytes())
        key = f"prior:{int(seed)}:{h.hexdigest()}"
        with self._lock:
            hit = self._cached(key)
            if hit is not None:
                return hit
        s = self.image_size
        # No appearance image: a model with warped parts sees none (zeros), as trained.
        shape = shape_input(pose_in_box(model_pose, pose_box(model_pose), s), None, self.config)[None]  # (1, 3 or 7, S, S)
        gen = torch.Generator(device=self.device).manual_seed(int(seed))
        with self._lock, torch.inference_mode():
            self._ensure_threads()
            zs = self._model.sample_latents(shape.to(self.device), generator=gen)
            return self._keep(self._make_appearance(key, zs))

    # --- rendering ---------------------------------------------------------------------------
    def render(
        self, appearance: Appearance, pose: Pose, box: tuple[float, float, float] | None = None
    ) -> Render:
        """Re-render `appearance` in `pose` (pixels of the pose's own image).

        box: the square (x0, y0, side) of the pose's frame the model sees. Default: the box
        around this pose (`framing.pose_box`). An editor passes one fixed box for a whole drag so
        the person is not rescaled or recropped as joints move (`composite.stable_box`)."""
        t0 = time.perf_counter()
        if not isinstance(appearance.latents, _Latents):
            raise EngineError("This appearance was not made by this engine.")
        model_pose = _model_pose(pose, "pose")
        s = self.image_size
        frame = pose_box(model_pose) if box is None else Box(*box)
        parts = appearance.latents.parts
        local = pose_in_box(model_pose, frame, s)  # the pose's one frame conversion: photo -> box
        shape = shape_input(local, parts, self.config)[None]  # (1, 3 or 7, S, S)
        with self._lock:
            threads = self._ensure_threads(render=True)
            w0, c0 = time.perf_counter(), time.process_time()
            out = self._net.decode(shape, appearance.latents.prepared)  # (1, 3 or 4, S, S) float32
            self._measured(threads, time.perf_counter() - w0, time.process_time() - c0)
        image = tensor_to_image(out[0])  # (S, S, 3) uint8
        alpha = tensor_to_alpha(out[0])  # (S, S) float32, or None without the alpha channel
        return Render(image, frame, local, (time.perf_counter() - t0) * 1e3, alpha)

    def clear_cache(self) -> None:
        with self._lock:
            self._cache.clear()

    @property
    def model(self) -> VUNet:
        """The folded fp32 reference model (for diagnostics and benchmarks)."""
        return self._model

    @property
    def net(self) -> FastVUNet:
        """The fast inference network actually used."""
        return self._net
