"""The bundled default model, loaded through the same code the app uses, re-poses people."""

from pathlib import Path

import numpy as np
import pytest

from training.synth import sample_pair
from vunet_studio.engine import AppearanceImage, RenderEngine, default_checkpoint
from vunet_studio.framing import paste
from vunet_studio.imageio import load_image
from vunet_studio.pose_io import read_poses

SAMPLES = Path(__file__).resolve().parents[1] / "resources" / "samples"
# Seeds far from any used in training (training draws seeds 0, 1, 2, ... upwards).
HELD_OUT_SEEDS = [900_001, 900_002, 900_003, 900_004, 900_005, 900_006]


@pytest.fixture(scope="module")
def engine() -> RenderEngine:
    assert default_checkpoint().is_file(), "the default model must ship in resources/models/"
    return RenderEngine(device="cpu", warmup=False)


def test_reposes_a_bundled_sample(engine: RenderEngine) -> None:
    photo = load_image(SAMPLES / "synthetic_01.png")
    pose = read_poses(SAMPLES / "synthetic_01.json", (photo.shape[1], photo.shape[0]))[0]
    other = read_poses(SAMPLES / "synthetic_02.json", (photo.shape[1], photo.shape[0]))[0]
    appearance = engine.encode(AppearanceImage(photo, pose))
    render = engine.render(appearance, other)
    assert render.image.shape == (engine.image_size, engine.image_size, 3)
    assert render.image.std() > 10  # a picture, not a flat field


def mask_l1(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32))[mask].mean())


def test_render_follows_the_appearance_image(engine: RenderEngine) -> None:
    """On held-out ground-truth pairs the person's own appearance explains the target better
    than another person's: the render is recognisably the same person."""
    pairs = [sample_pair(seed, size=128) for seed in HELD_OUT_SEEDS]
    own, swapped = [], []
    for i, (a, b) in enumerate(pairs):
        other = pairs[(i + 1) % len(pairs)][0]
        for src, out in ((a, own), (other, swapped)):
            render = engine.render(engine.encode(AppearanceImage(src.image, src.pose)), b.pose)
            out.append(mask_l1(paste(b.image, render.image, render.box), b.image, b.mask))
    assert np.mean(own) < 0.8 * np.mean(swapped), (own, swapped)
