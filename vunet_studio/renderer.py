"""What the app needs from a render engine: the one interface the GUI renders through.

`engine.RenderEngine` (the model) implements it, and so does the stand-in engine the GUI
tests and demos use (`FakeEngine`); tests/test_architecture.py checks both against it. The
app builds its engine with a `RendererFactory` in the render thread and never names the
model's class. Qt-free and torch-free: the GUI thread imports this long before torch loads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from vunet_studio.engine import Appearance, AppearanceImage, ProgressFn, Render
    from vunet_studio.pose import Pose


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
