"""The render engine: the one object the app and the command line use to re-pose people.

INTERFACE DRAFT (the lead's): the GUI codes against these names; the engine helper
implements them (model loading, caching, crops, fast paths) without changing the API.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vunet_studio.pose import Pose


class EngineError(RuntimeError):
    """A model could not be loaded or a render could not be made; the message is for the user."""


@dataclass(frozen=True)
class Source:
    """An appearance source: a photo (RGB uint8, H x W x 3) and the person's pose in its pixels."""

    image: np.ndarray
    pose: Pose


@dataclass(frozen=True)
class Appearance:
    """An encoded appearance (posterior means, or a prior sample); opaque outside the engine."""

    latents: Any
    key: str


@dataclass(frozen=True)
class Render:
    image: np.ndarray  # (S, S, 3) uint8 RGB, S = engine.image_size
    box: tuple[float, float, float]  # (x0, y0, side): the square of the pose's frame the render shows
    ms: float  # wall time of the render


ProgressFn = Callable[[float, str], None]  # (fraction 0..1, message)


class RenderEngine:
    """Loads a checkpoint once; `encode` a source once; `render` many poses fast."""

    def __init__(self, checkpoint: str | Path | None = None, device: str = "auto", progress: ProgressFn | None = None) -> None:
        raise NotImplementedError

    image_size: int
    device: str

    def encode(self, source: Source | Sequence[Source]) -> Appearance:
        """One source, or 8 (one per body part in `vunet_studio.parts.PART_NAMES` order) to mix parts."""
        raise NotImplementedError

    def sample_appearance(self, pose: Pose, seed: int) -> Appearance:
        """A random appearance from the prior p(z | stickman of `pose`)."""
        raise NotImplementedError

    def render(self, appearance: Appearance, pose: Pose) -> Render:
        """Re-render `appearance` in `pose` (pixels of the pose's own image)."""
        raise NotImplementedError


def default_checkpoint() -> Path:
    """The bundled default model."""
    return Path(__file__).resolve().parent.parent / "resources" / "models" / "vunet_synth128.safetensors"
