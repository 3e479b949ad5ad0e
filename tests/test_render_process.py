"""The model in a process of its own (`vunet_studio.render_process`): the app's renders come
from a child process, and they are the renders the engine makes in this one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config

from vunet_studio.engine import AppearanceImage, EngineError, RenderEngine
from vunet_studio.model import VUNet, save_checkpoint
from vunet_studio.pose import Pose
from vunet_studio.render_process import ProcessRenderer
from vunet_studio.skeleton import JOINT_INDEX


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(VUNet(tiny_model_config()).eval(), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def load_progress() -> list[float]:
    """The fractions the child reported while loading (`child`)."""
    return []


@pytest.fixture(scope="module")
def child(checkpoint: Path, load_progress: list[float]):
    renderer = ProcessRenderer(checkpoint, "cpu", lambda f, _m: load_progress.append(f), threads=1, warmup=False)
    yield renderer
    renderer.close()


def _person() -> tuple[np.ndarray, Pose]:
    pose = Pose.template(96, 128)
    yy, xx = np.mgrid[0:128, 0:96]
    image = np.stack([xx * 2 % 256, yy * 2 % 256, (xx + yy) % 256], -1).astype(np.uint8)
    return image, pose


def test_the_child_renders_what_the_engine_renders_here(
    child: ProcessRenderer, checkpoint: Path, load_progress: list[float]
) -> None:
    here = RenderEngine(checkpoint, "cpu", threads=1, warmup=False)
    assert child.device == here.device
    assert load_progress
    assert load_progress[-1] == pytest.approx(1.0)
    image, pose = _person()
    j = JOINT_INDEX["rwrist"]
    raised = pose.with_joint(j, float(pose.xy[j, 0]) - 10, float(pose.xy[j, 1]) - 30)
    for source in (AppearanceImage(image, pose, "photo:1"), [AppearanceImage(image, pose, "photo:1")] * 8):
        theirs = child.render(child.encode(source), raised, box=(0.0, 0.0, 128.0))
        ours = here.render(here.encode(source), raised, box=(0.0, 0.0, 128.0))
        assert np.array_equal(theirs.image, ours.image)
        assert tuple(theirs.box) == tuple(ours.box)
        assert (theirs.alpha is None) == (ours.alpha is None)
    sampled = child.render(child.sample_appearance(pose, 3), pose)
    assert np.array_equal(sampled.image, here.render(here.sample_appearance(pose, 3), pose).image)


def test_an_appearance_seen_before_is_not_sent_again(child: ProcessRenderer) -> None:
    image, pose = _person()
    first = child.encode(AppearanceImage(image, pose, "photo:2"))
    sent: list[object] = []
    real = child._conn.send
    child._conn.send = lambda m: (sent.append(m[0]), real(m))  # type: ignore[method-assign]
    try:
        again = child.encode(AppearanceImage(image, pose, "photo:2"))
        child.render(again, pose)
    finally:
        child._conn.send = real  # type: ignore[method-assign]
    assert again.key == first.key
    assert sent == ["render"]  # a drag sends poses, not the photo's pixels


def test_a_bad_checkpoint_says_why_in_one_line_and_leaves_no_process(tmp_path: Path) -> None:
    import multiprocessing

    before = set(multiprocessing.active_children())
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a model")
    with pytest.raises(EngineError) as e:
        ProcessRenderer(bad, "cpu", threads=1, warmup=False)
    assert "\n" not in str(e.value)
    assert str(e.value) == _engine_error(bad)
    assert set(multiprocessing.active_children()) <= before


def _engine_error(path: Path) -> str:
    try:
        RenderEngine(path, "cpu", threads=1, warmup=False)
    except EngineError as e:
        return str(e)
    raise AssertionError("the engine loaded a broken file")


def test_after_close_a_render_says_the_model_has_stopped(checkpoint: Path) -> None:
    renderer = ProcessRenderer(checkpoint, "cpu", threads=1, warmup=False)
    image, pose = _person()
    app = renderer.encode(AppearanceImage(image, pose, "photo:3"))
    renderer.close()
    assert not renderer._proc.is_alive()
    with pytest.raises(EngineError, match="stopped"):
        renderer.render(app, pose)


def test_the_torch_hub_folder_is_found_as_torch_finds_it(monkeypatch, tmp_path: Path) -> None:
    from vunet_studio.estimation.chain import torch_hub_dir

    for env in ({}, {"XDG_CACHE_HOME": str(tmp_path / "cache")}, {"TORCH_HOME": str(tmp_path / "th")}):
        for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert torch_hub_dir() == Path(torch.hub.get_dir())


def test_the_window_process_renders_and_finds_poses_without_torch(checkpoint: Path) -> None:
    """The app's window imports no torch: the model is the child's (seconds and hundreds of MB)."""
    import subprocess
    import sys

    code = f"""
import sys
import numpy as np
import vunet_studio.gui.main_window, vunet_studio.composite, vunet_studio.kept, vunet_studio.borrowed
from vunet_studio.estimation.chain import openpifpaf_offline_problem
from vunet_studio.pose import Pose
from vunet_studio.render_process import ProcessRenderer
from vunet_studio.renderer import AppearanceImage
openpifpaf_offline_problem("shufflenetv2k16")
if __name__ == "__main__":
    child = ProcessRenderer({str(checkpoint)!r}, "cpu", threads=1, warmup=False)
    pose = Pose.template(96, 128)
    app = child.encode(AppearanceImage(np.zeros((128, 96, 3), np.uint8), pose, "k"))
    assert child.render(app, pose).image.shape[-1] == 3
    child.close()
    print("torch" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_the_model_process_logs_with_the_app(checkpoint: Path, capfd, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO)  # the app's own level (`vunet-studio --verbose`: DEBUG)
    renderer = ProcessRenderer(checkpoint, "cpu", threads=1, warmup=False)
    renderer.close()
    err = capfd.readouterr().err
    assert "[model process]: engine ready" in err
