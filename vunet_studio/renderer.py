"""What the app needs from a render engine: the one interface the GUI renders through, and
the data it passes (appearance images, appearances, renders, the engine's errors).

`engine.RenderEngine` (the model) implements it, and so do the model in a process of its own
that the app uses (`render_process.ProcessRenderer`) and the stand-in engine the GUI tests and
demos use (`FakeEngine`); tests/test_architecture.py checks them against it. The
app builds its engine with a `RendererFactory` in the render thread and never names the
model's class. Qt-free and torch-free: the GUI thread imports this long before torch loads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from vunet_studio.framing import Box
from vunet_studio.imageio import as_rgb_uint8
from vunet_studio.pose import Pose
from vunet_studio.skeleton import NUM_PARTS, PART_NAMES


def default_checkpoint() -> Path:
    """The bundled default model."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / "vunet_synth128.safetensors"


class EngineError(RuntimeError):
    """A model could not be loaded or a render could not be made; the message is for the user."""


@dataclass(frozen=True)
class AppearanceImage:
    """The photo whose looks a render takes (RGB uint8, H x W x 3) and the person's pose in its pixels.

    key: names this image and pose in the engine's appearance cache. None (the default): a
    hash of the pixels and the pose. The app names its photos instead (photo id and pose):
    hashing a 24-megapixel photo takes about 0.1 s, and it asks on every mouse move.
    """

    image: np.ndarray
    pose: Pose
    key: str | None = None


@dataclass(frozen=True)
class Appearance:
    """An encoded appearance (posterior means, or a prior sample); opaque outside the engine."""

    latents: Any
    key: str


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # (S, S, 3) uint8 RGB, S = engine.image_size
    box: Box  # the square of the pose's frame the render shows
    #: The rendered pose in the render's S x S frame (moved into `box` once per render): what
    #: its stickman was drawn from, and what a silhouette alpha is drawn from.
    pose: Pose
    ms: float  # wall time of the render
    #: (S, S) float32 in [0, 1]: where the person is in `image`, from the model's alpha
    #: channel; None for a checkpoint without one (`vunet_studio.composite` then estimates it).
    alpha: np.ndarray | None = None


ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)


def rgb_photo(image: np.ndarray) -> np.ndarray:
    """`image` as 8-bit RGB; EngineError (for the user) when it cannot be."""
    try:
        return as_rgb_uint8(image)
    except ValueError as e:
        raise EngineError(f"Expected an 8-bit RGB photo: {e}.") from None


def appearance_images(appearance: AppearanceImage | Sequence[AppearanceImage]) -> list[AppearanceImage]:
    """What `Renderer.encode` was given, as a list: one appearance image, or one per body part
    (`skeleton.PART_NAMES` order) to mix them; EngineError (for the user) for anything else."""
    if isinstance(appearance, AppearanceImage):
        return [appearance]
    images = list(appearance)
    if len(images) != NUM_PARTS or not all(isinstance(s, AppearanceImage) for s in images):
        raise EngineError(
            f"Mixing needs one appearance image per body part ({NUM_PARTS}: {', '.join(PART_NAMES)}), "
            f"got {len(images)}."
        )
    return images


def mixed_key(keys: Sequence[str]) -> str:
    """The cache key of the appearance encoded from images with `keys` (`appearance_key`):
    the one photo's own key, or the mix's."""
    return keys[0] if len(set(keys)) == 1 else "mix:" + ":".join(keys)


def appearance_key(src: AppearanceImage) -> str:
    """The name of `src` in an engine's appearance cache: its own key, else a hash of its
    pixels and pose."""
    if src.key is not None:
        return src.key
    img = rgb_photo(src.image)
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(img.shape).encode())
    h.update(img.tobytes())
    h.update(np.ascontiguousarray(src.pose.xy).tobytes())
    h.update(np.ascontiguousarray(src.pose.visible).tobytes())
    h.update(repr(src.pose.image_size).encode())
    return h.hexdigest()


class Renderer(Protocol):
    """A loaded model: encodes appearances and renders them in poses (raises EngineError)."""

    #: Where it runs ('cpu', 'cuda:0'); the status bar shows it.
    device: str

    def encode(self, appearance: AppearanceImage | Sequence[AppearanceImage]) -> Appearance:
        """The appearance of one source, or of 8 mixed (one per body part, `parts.PART_NAMES`)."""
        ...

    def sample_appearance(self, pose: Pose, seed: int) -> Appearance:
        """A random appearance from the model's prior for `pose` (the same for the same seed)."""
        ...

    def render(
        self, appearance: Appearance, pose: Pose, box: tuple[float, float, float] | None = None
    ) -> Render:
        """`appearance` in `pose`, showing the square `box` (x0, y0, side) of the pose's frame
        (default: the box around the pose, `framing.pose_box`)."""
        ...

    def watch_load(self) -> None:
        """Called every ~0.25 s between renders: a CPU engine checks how busy the machine is
        (`threads.ThreadTuner.watch`); others do nothing."""
        ...


class RendererFactory(Protocol):
    """Loads a Renderer from a checkpoint (None: the default model) on a device, reporting progress."""

    def __call__(self, checkpoint: str | Path | None, device: str, progress: ProgressFn, /) -> Renderer: ...
