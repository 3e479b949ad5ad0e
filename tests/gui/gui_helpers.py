"""Helpers shared by the GUI tests (a module of its own: conftest is not for importing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from vunet_studio.pose import Pose


class FakeEstimator:
    """Finds a person everywhere (a template in the middle), or no one when `empty`."""

    def __init__(self, empty: bool = False) -> None:
        self.empty = empty

    def estimate(self, image: np.ndarray) -> list[Pose]:
        if self.empty:
            return []
        h, w = image.shape[:2]
        return [Pose.template(w, h, (0.2 * w, 0.1 * h, 0.6 * w, 0.8 * h))]


def person_photo(
    path: Path, size: tuple[int, int] = (200, 300), colour: tuple[int, int, int] = (200, 60, 60)
) -> Path:
    """A plain background with a coloured 'person' block in the middle."""
    w, h = size
    img = np.full((h, w, 3), 230, np.uint8)
    img[int(0.1 * h) : int(0.9 * h), int(0.35 * w) : int(0.65 * w)] = colour
    Image.fromarray(img).save(path)
    return path


def open_and_wait(qtbot, window, paths: list[Path]) -> list[int]:  # noqa: ANN001
    """Open photos and wait until each has its starting pose."""
    ready: set[int] = set()
    window.files.photoReady.connect(ready.add)
    ids = window.files.add_photos(paths)
    qtbot.waitUntil(lambda: set(ids) <= ready, timeout=5000)
    return ids


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())
