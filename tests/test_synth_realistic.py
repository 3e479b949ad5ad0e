"""Realistic synthetic people: options off change nothing, pairs share their look, masks stay
exact under camera effects and distractors, photos are optional (procedural fallback)."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.config import ConfigError, load_config
from training.synth import REALISTIC, Realism, sample, sample_pair, textures
from training.synth.cli import main
from training.synth.sampling import scene_image
from vunet_studio.skeleton import JOINT_INDEX

CAMERA = Realism(noise=1, blur=1, jpeg=1, exposure=1, white_balance=1)


@pytest.fixture
def no_photos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No texture folder anywhere: not in the config, the environment or ./data/textures."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(textures.ENV_VAR, raising=False)
    textures.photos.cache_clear()
    yield
    textures.photos.cache_clear()


@pytest.fixture
def photo_dir(tmp_path: Path) -> str:
    """Two tiny 'photos' with unmistakable content: a red/blue and a green/yellow checkerboard."""
    d = tmp_path / "tex"
    d.mkdir()
    yy, xx = np.mgrid[0:96, 0:96]
    board = ((yy // 12 + xx // 12) % 2).astype(bool)[..., None]
    for name, c1, c2 in (("a.png", (255, 0, 0), (0, 0, 255)), ("b.png", (0, 255, 0), (255, 255, 0))):
        img = np.where(board, np.array(c1, np.uint8), np.array(c2, np.uint8))
        cv2.imwrite(str(d / name), img[..., ::-1])
    textures.photos.cache_clear()
    return str(d)


def test_all_options_off_is_the_plain_sample() -> None:
    plain, off = sample(21), sample(21, realism=Realism())
    assert np.array_equal(plain.image, off.image)
    assert np.array_equal(plain.mask, off.mask)
    assert plain.pose == off.pose
    assert off.look is None


def test_deterministic_and_pairs_share_scene_camera_and_textures(no_photos: None) -> None:
    a1, b1 = sample_pair(8, realism=REALISTIC)
    a2, b2 = sample_pair(8, realism=REALISTIC)
    assert np.array_equal(a1.image, a2.image)
    assert np.array_equal(b1.image, b2.image)
    assert a1.person == b1.person
    assert a1.look == b1.look
    assert a1.articulation != b1.articulation
    assert np.array_equal(sample(8, realism=REALISTIC).image, a1.image)
    # Framing is the sample's, not the pose's: both poses share scale and position.
    a, b = sample_pair(8, realism=Realism(small=1))
    assert a.look is not None
    assert a.look.framing is not None
    assert (a.articulation.scale, a.articulation.dx) == (b.articulation.scale, b.articulation.dx)


def test_camera_effects_change_pixels_not_the_mask() -> None:
    for seed in (3, 4):
        plain, cam = sample(seed), sample(seed, realism=CAMERA)
        assert cam.look is not None
        assert not cam.look.camera.is_identity
        assert np.array_equal(plain.mask, cam.mask)
        assert plain.pose == cam.pose
        assert np.abs(plain.image.astype(int) - cam.image).mean() > 1.0


def test_grayscale_stays_grayscale_after_jpeg() -> None:
    s = sample(5, realism=Realism(grayscale=1, jpeg=1, white_balance=1))
    assert s.look is not None
    assert s.look.camera.grayscale
    assert s.look.camera.jpeg
    assert np.array_equal(s.image[..., 0], s.image[..., 1])
    assert np.array_equal(
        s.image[..., 1], s.image[..., 2]
    )


def test_distractor_is_in_the_image_but_never_in_the_mask() -> None:
    for seed in (10, 11):
        plain, d = sample(seed), sample(seed, realism=Realism(distractor=1))
        assert d.look is not None
        assert d.look.distractor is not None
        assert np.array_equal(plain.mask, d.mask)
        assert plain.pose == d.pose
        diff = np.abs(plain.image.astype(int) - d.image).max(axis=2)
        assert (diff[~plain.mask] > 0).sum() > 50  # the second person is drawn outside the mask
        # ... and always behind the first: inside the mask only its anti-aliased rim blends
        # (and rounding: the scene with the distractor is painted as uint8).
        inner = cv2.erode(plain.mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert diff[inner].max() <= 1


def test_photo_backgrounds_and_fabrics_come_from_the_folder(photo_dir: str) -> None:
    r = Realism(photo_background=1, photo_texture=1, texture_dir=photo_dir)
    s = sample(2, realism=r)
    assert s.person.scene.kind == "photo"
    assert s.person.scene.texture.startswith(photo_dir)
    assert s.person.top.pattern.kind == "photo"
    assert s.person.top.pattern.texture.startswith(photo_dir)
    bg = s.image[~s.mask].astype(int)
    # Background pixels are the checkerboards' saturated colours: no grey wall or floor.
    assert (bg.max(axis=1) - bg.min(axis=1)).mean() > 120


def test_without_photos_procedural_textures_stand_in_logged_once(
    no_photos: None, caplog: pytest.LogCaptureFixture
) -> None:
    r = Realism(photo_background=1, photo_texture=1)
    with caplog.at_level(logging.INFO, logger="training.synth.textures"):
        a, b = sample(1, realism=r), sample(2, realism=r)
    assert a.person.scene.texture.startswith("proc:")
    assert b.person.top.pattern.texture.startswith("proc:")
    assert sum("procedural" in m for m in caplog.messages) == 1
    assert a.image.std() > 10


def test_framing_small_cut_and_upper_body() -> None:
    size = 128
    small = sample(6, realism=Realism(small=1))
    rows = np.flatnonzero(small.mask.any(axis=1))
    assert rows[-1] - rows[0] < 0.72 * size
    upper = sample(6, realism=Realism(upper_body=1))
    assert upper.pose.has_torso()
    assert not upper.pose.visible[[JOINT_INDEX["rankle"], JOINT_INDEX["lankle"]]].any()
    cut = [sample(s, realism=Realism(cut=1)) for s in (6, 7, 8)]
    edges = [m.mask[:, [0, -1]].any() or m.mask[[0, -1]].any() for m in cut]
    assert all(c.pose.has_torso() for c in cut)
    assert any(edges)


def test_face_and_footwear_options_draw_differently() -> None:
    plain = sample(12)
    for r, attr in ((Realism(face=1), "face"), (Realism(footwear=1), "footwear")):
        s = sample(12, realism=r)
        assert getattr(s.person, attr) is not None
        assert not np.array_equal(s.image, plain.image)


def test_config_knobs_are_checked(tmp_path: Path) -> None:
    cfg = load_config(None, ["--data.realism.distractor=0.3", "--data.texture_dir=/nowhere"])
    assert cfg.data.realism == {"distractor": 0.3}
    with pytest.raises(ConfigError, match="unknown realism"):
        load_config(None, ["--data.realism.sparkles=0.5"])
    with pytest.raises(ConfigError, match="probability"):
        load_config(None, ["--data.realism.noise=2"])
    real = load_config("training/configs/realistic128.yaml")
    assert real.model.build().alpha
    assert Realism.from_mapping(real.data.realism) == replace(REALISTIC)
    for ref in ("synth128", "market128", "deepfashion256"):
        assert load_config(f"training/configs/{ref}.yaml").data.realism == {}


def test_scene_image_is_the_sample_without_the_person() -> None:
    r = Realism(distractor=1, exposure=1, white_balance=1, shading=1, noise=1)
    s = sample(13, realism=r)
    scene = scene_image(s.person, 128, s.look)
    far = ~cv2.dilate(s.mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    same = (np.abs(scene.astype(int) - s.image).max(axis=2) <= 1)[far]
    assert same.mean() > 0.97  # all but the contact shadow under the feet
    plain = sample(13)
    assert np.array_equal(scene_image(plain.person, 128), scene_image(plain.person, 128, None))


def test_cli_writes_realistic_pairs(tmp_path: Path, no_photos: None) -> None:
    assert main(["--out", str(tmp_path / "p"), "--pairs", "2", "--realistic", "--size", "64"]) == 0
    for i in range(2):
        d = tmp_path / "p" / f"{i:06d}"
        assert {p.name for p in d.iterdir()} >= {"appearance.png", "target.png", "mask.png", "scene.png"}
