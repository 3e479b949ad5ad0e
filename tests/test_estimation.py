"""Pose estimation: the interface, the openpifpaf backend offline, and every way it can be unavailable."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from vunet_studio.estimation import (
    EstimatorUnavailable,
    PoseEstimator,
    as_rgb_uint8,
    create_estimator,
    largest_first,
    openpifpaf_backend,
    poses_from_coco17,
)
from vunet_studio.pose import Pose
from vunet_studio.skeleton import COCO17_NAMES, JOINT_INDEX

try:  # The interface and the "not installed" fallback are tested even without openpifpaf.
    import openpifpaf
    import torch
except ImportError:
    openpifpaf = torch = None
needs_openpifpaf = pytest.mark.skipif(openpifpaf is None, reason="openpifpaf is not installed")


def _coco17(points: dict[str, tuple[float, float, float]]) -> np.ndarray:
    kp = np.zeros((17, 3), np.float32)
    for name, xyc in points.items():
        kp[COCO17_NAMES.index(name)] = xyc
    return kp


def _person(x0: float, y0: float, scale: float, conf: float = 0.9) -> np.ndarray:
    """A full COCO-17 person, `scale` pixels tall, top-left at (x0, y0)."""
    unit = {
        "nose": (0.5, 0.1), "left_eye": (0.53, 0.08), "right_eye": (0.47, 0.08),
        "left_ear": (0.56, 0.09), "right_ear": (0.44, 0.09),
        "left_shoulder": (0.62, 0.22), "right_shoulder": (0.38, 0.22),
        "left_elbow": (0.67, 0.38), "right_elbow": (0.33, 0.38),
        "left_wrist": (0.7, 0.52), "right_wrist": (0.3, 0.52),
        "left_hip": (0.57, 0.52), "right_hip": (0.43, 0.52),
        "left_knee": (0.58, 0.71), "right_knee": (0.42, 0.71),
        "left_ankle": (0.58, 0.9), "right_ankle": (0.42, 0.9),
    }  # fmt: skip
    return _coco17({n: (x0 + u * scale, y0 + v * scale, conf) for n, (u, v) in unit.items()})


def _annotation(data: np.ndarray):
    from openpifpaf.plugins.coco.constants import COCO_KEYPOINTS, COCO_PERSON_SKELETON

    return openpifpaf.Annotation(keypoints=COCO_KEYPOINTS, skeleton=COCO_PERSON_SKELETON).set(data)


@pytest.fixture(scope="module")
def untrained_net():
    if openpifpaf is None:
        pytest.skip("openpifpaf is not installed")
    return openpifpaf_backend.untrained_network()


# --- the package stays light ------------------------------------------------------
def test_importing_the_package_loads_neither_torch_nor_openpifpaf():
    code = (
        "import sys, vunet_studio.estimation, vunet_studio.estimation.openpifpaf_backend\n"
        "print('torch' in sys.modules, 'openpifpaf' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- the real network and decoder, offline ----------------------------------------
@needs_openpifpaf
def test_untrained_network_runs_end_to_end(untrained_net):
    est = openpifpaf_backend.OpenPifPafEstimator.from_network(untrained_net, device="cpu")
    assert isinstance(est, PoseEstimator)
    rng = np.random.default_rng(0)
    for shape in [(97, 130, 3), (60, 40)]:  # RGB and grey; odd sizes need padding
        poses = est.estimate(rng.integers(0, 256, shape, dtype=np.uint8))
        assert isinstance(poses, list)
        assert all(isinstance(p, Pose) for p in poses)


@needs_openpifpaf
def test_large_photo_is_scaled_down_and_poses_come_back_in_its_pixels(untrained_net, monkeypatch):
    est = openpifpaf_backend.OpenPifPafEstimator(untrained_net, device="cpu", long_edge=320)
    seen = {}

    def fake_batch(model, batch, device=None):
        seen["shape"] = tuple(batch.shape)
        # A person in the network's (scaled) pixels: 100 px tall at (50, 20).
        return [[_annotation(_person(50, 20, 100))]]

    monkeypatch.setattr(est._decoder, "batch", fake_batch)
    poses = est.estimate(np.zeros((400, 800, 3), np.uint8))
    assert max(seen["shape"][2:]) <= 321  # the network saw the photo at long edge 320 (+ pad)
    assert len(poses) == 1
    assert poses[0].image_size == (800, 400)
    _x0, y0, _x1, y1 = poses[0].bbox()
    assert (y1 - y0) == pytest.approx(0.82 * 100 * 800 / 320, rel=0.02)  # scaled back up 2.5x


# --- COCO-17 -> 18 joints -----------------------------------------------------------
@needs_openpifpaf
def test_annotations_map_to_18_joints_with_neck_threshold_and_largest_first():
    small = _person(10, 10, 50)
    big = _person(100, 10, 200)
    big[COCO17_NAMES.index("left_wrist"), 2] = 0.1  # below the threshold: hidden
    one_shoulder = _person(300, 10, 100)
    one_shoulder[COCO17_NAMES.index("right_shoulder"), 2] = 0.05
    nobody = _person(0, 0, 10, conf=0.01)  # every joint below threshold: dropped
    anns = [_annotation(a) for a in (small, big, one_shoulder, nobody)]

    poses = openpifpaf_backend.annotations_to_poses(anns, threshold=0.2, image_size=(640, 480))

    assert len(poses) == 3
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (p.bbox() for p in poses)]
    assert areas == sorted(areas, reverse=True)
    first = poses[0]
    assert first.image_size == (640, 480)
    assert not first.visible[JOINT_INDEX["lwrist"]]
    neck = first.xy[JOINT_INDEX["cneck"]]
    shoulders = big[[COCO17_NAMES.index("left_shoulder"), COCO17_NAMES.index("right_shoulder")], :2]
    assert first.visible[JOINT_INDEX["cneck"]]
    np.testing.assert_allclose(neck, shoulders.mean(axis=0), atol=1e-4)
    np.testing.assert_allclose(
        first.xy[JOINT_INDEX["lshoulder"]], big[COCO17_NAMES.index("left_shoulder"), :2]
    )
    lone = next(p for p in poses if p.bbox()[0] >= 300)
    assert not lone.visible[JOINT_INDEX["rshoulder"]]
    assert not lone.visible[JOINT_INDEX["cneck"]]
    assert not lone.has_torso()
    assert first.has_torso()


def test_threshold_is_exclusive_and_plain_arrays_work():
    kp = _person(0, 0, 100, conf=0.5)
    assert poses_from_coco17([kp], threshold=0.5) == []
    (pose,) = poses_from_coco17([kp], threshold=0.49)
    assert pose.visible.all()
    assert largest_first([]) == []


def test_as_rgb_uint8():
    assert as_rgb_uint8(np.zeros((4, 5), np.uint8)).shape == (4, 5, 3)
    assert as_rgb_uint8(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="8-bit image"):
        as_rgb_uint8(np.zeros((4, 5, 3), np.float32))


# --- unavailable: the GUI shows these messages and falls back to the template ---------
def test_openpifpaf_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "openpifpaf", None)  # makes `import openpifpaf` fail
    with pytest.raises(EstimatorUnavailable) as e:
        create_estimator()
    msg = str(e.value)
    assert "openpifpaf" in msg
    assert "not installed" in msg
    assert "pip install" in msg
    assert "template pose" in msg


@needs_openpifpaf
def test_missing_local_checkpoint_file(tmp_path):
    with pytest.raises(EstimatorUnavailable, match="does not exist"):
        create_estimator(str(tmp_path / "my-model.pkl"))


@needs_openpifpaf
def test_named_checkpoint_not_cached_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(EstimatorUnavailable) as e:
        create_estimator("shufflenetv2k16", allow_download=False)
    assert "not been downloaded" in str(e.value)
    assert str(tmp_path) in str(e.value)

    def offline(*args, **kwargs):
        assert kwargs.get("timeout"), "a download must never wait forever"
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(openpifpaf_backend.urllib.request, "urlopen", offline)
    with pytest.raises(EstimatorUnavailable, match=r"could not be downloaded.*Connect to the internet"):
        create_estimator("shufflenetv2k16")
    assert not any(Path(tmp_path).rglob("*.pkl*")), "no partial download left behind"


@needs_openpifpaf
def test_corrupt_download_is_rejected_and_not_cached(tmp_path, monkeypatch):
    import io

    class Response(io.BytesIO):
        headers: ClassVar[dict[str, str]] = {"Content-Length": "4"}

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(openpifpaf_backend.urllib.request, "urlopen", lambda *a, **k: Response(b"junk"))
    with pytest.raises(EstimatorUnavailable, match="corrupt"):
        create_estimator("shufflenetv2k16")
    assert not any(Path(tmp_path).rglob("*.pkl*"))


@needs_openpifpaf
def test_unknown_name_and_unreadable_files(tmp_path):
    with pytest.raises(EstimatorUnavailable, match="neither a pose checkpoint file nor a known"):
        create_estimator("no-such-model")
    junk = tmp_path / "junk.pkl"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(EstimatorUnavailable, match="could not be read as an openpifpaf checkpoint"):
        create_estimator(str(junk))
    weights = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(2)}, weights)
    with pytest.raises(EstimatorUnavailable, match="not an openpifpaf checkpoint"):
        create_estimator(str(weights))


@needs_openpifpaf
def test_local_pickled_checkpoint_loads_without_a_global_switch(tmp_path, untrained_net):
    path = tmp_path / "chosen.pkl"
    torch.save({"model": untrained_net, "epoch": 0}, path)
    est = create_estimator(str(path), device="cpu")
    assert est.estimate(np.zeros((33, 33, 3), np.uint8)) == []
    # The exception was for that file only: torch.load elsewhere still refuses pickled modules.
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    with pytest.raises(Exception, match=r"(?i)weights_only"):
        torch.load(path)


@needs_openpifpaf
@pytest.mark.skipif(torch is not None and torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_without_gpu(untrained_net):
    with pytest.raises(EstimatorUnavailable, match="no CUDA GPU"):
        openpifpaf_backend.OpenPifPafEstimator(untrained_net, device="cuda")


@needs_openpifpaf
def test_unforeseen_errors_become_unavailable(tmp_path, untrained_net, monkeypatch):
    path = tmp_path / "chosen.pkl"
    torch.save({"model": untrained_net, "epoch": 0}, path)

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(openpifpaf_backend.OpenPifPafEstimator, "__init__", broken)
    with pytest.raises(EstimatorUnavailable, match=r"could not start.*out of memory"):
        create_estimator(str(path))
