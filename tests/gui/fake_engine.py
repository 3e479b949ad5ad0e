"""A stand-in render engine with the real one's interface, for tests, demos and benchmarks.

It draws the target pose's stickman tinted with the appearance image's mean colours, after a short
sleep that imitates the model's cost, in the box the real engine would use
(`vunet_studio.framing`). The shipped app never uses it: tests pass it as the engine factory,
and `scripts/dev_studio.py --fake-engine` starts the app with it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from vunet_studio.engine import Appearance, AppearanceImage, EngineError, Render
from vunet_studio.framing import Box, FramingError, pose_box, pose_in_box
from vunet_studio.pose import Pose
from vunet_studio.stickman import draw_stickman


class FakeEngine:
    def __init__(
        self,
        checkpoint: str | Path | None = None,
        device: str = "auto",
        progress=None,
        *,
        image_size: int = 128,
        delay_s: float = 0.01,
    ) -> None:
        if checkpoint is not None and Path(checkpoint).suffix == ".corrupt":
            raise EngineError(f"{Path(checkpoint).name} is not a VUNet checkpoint")
        for k in range(3):
            if progress is not None:
                progress(k / 3, "Loading the fake model…")
        self.image_size = image_size
        self.device = "cpu" if device == "auto" else device
        self.delay_s = delay_s
        self.renders = 0
        self.watched = 0  # watch_load calls: the worker keeps the load reading fresh

    def encode(self, appearance: AppearanceImage | Sequence[AppearanceImage]) -> Appearance:
        sources = [appearance] if isinstance(appearance, AppearanceImage) else list(appearance)
        colours = []
        for s in sources:
            box = s.pose.bbox()
            img = s.image
            if box is not None:
                x0, y0, x1, y1 = (int(v) for v in box)
                crop = img[max(y0, 0) : max(y1, y0 + 1), max(x0, 0) : max(x1, x0 + 1)]
                img = crop if crop.size else img
            colours.append(img.reshape(-1, 3).mean(axis=0))
        return Appearance(np.array(colours, np.float32), key=f"fake{len(sources)}")

    def sample_appearance(self, pose: Pose, seed: int) -> Appearance:
        rng = np.random.default_rng(seed)
        return Appearance(rng.uniform(40, 230, (8, 3)).astype(np.float32), key=f"sample{seed}")

    def watch_load(self) -> None:
        self.watched += 1

    def render(
        self, appearance: Appearance, pose: Pose, box: tuple[float, float, float] | None = None
    ) -> Render:
        t0 = time.perf_counter()
        time.sleep(self.delay_s)
        s = self.image_size
        try:
            frame = pose_box(pose) if box is None else Box(*box)
        except FramingError as exc:
            raise EngineError(str(exc)) from None
        local = pose_in_box(pose, frame, s)
        stick = draw_stickman(local, s, s).astype(np.float32) / 255.0  # (S, S, 3)
        colours = np.asarray(appearance.latents, np.float32).reshape(-1, 3)
        c_right, c_left, c_torso = colours[0], colours[min(5, len(colours) - 1)], colours[-1]
        image = np.full((s, s, 3), 235.0, np.float32)
        for ch, c in ((2, c_torso), (0, c_right), (1, c_left)):
            m = stick[:, :, ch : ch + 1]
            image = image * (1 - m) + c * m
        alpha = stick.max(axis=2)  # (S, S): the person is where the stickman is drawn
        self.renders += 1
        ms = (time.perf_counter() - t0) * 1e3
        return Render(image.clip(0, 255).astype(np.uint8), frame, local, ms, alpha)
