"""A long editing session survives: the real main window with a real (tiny) model, 5 000
mouse moves dragging joints, undo/redo, mirror, photo switches and exports; the pose
changes, renders keep coming, and memory and None's reference count stay flat.

The same session, ten minutes long, is `benchmarks/endurance.py`.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from _training_helpers import tiny_model_config
from gui_helpers import FakeEstimator, open_and_wait

from vunet_studio.model import VUNet, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = tiny_model_config()
MOVES = 5000
RSS_GROWTH_MB = 150  # the undo stack and caches may grow a little; a leak per move would not fit


def _endurance_module():
    spec = importlib.util.spec_from_file_location("endurance_bench", REPO / "benchmarks" / "endurance.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_checkpoint(VUNet(TINY).eval(), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_long_session_survives_with_bounded_memory(
    qtbot, tiny_checkpoint, photos, tmp_path, messages
) -> None:
    from vunet_studio.engine import RenderEngine
    from vunet_studio.gui.main_window import MainWindow

    bench = _endurance_module()
    window = MainWindow(
        engine_factory=lambda c, d, p: RenderEngine(tiny_checkpoint, "cpu", p, threads=1, warmup=False),
        estimator_factory=FakeEstimator,
    )
    qtbot.addWidget(window)
    window.show()
    with qtbot.waitSignal(window.render_service.engineReady, timeout=60000):
        window.load_engine()
    assert "tiny" in window.engine_label.text() or window.render_service.ready
    ids = open_and_wait(qtbot, window, photos)
    window.doc.set_current(ids[0])
    qtbot.waitUntil(lambda: window.render_view.image() is not None, timeout=30000)
    before = {p.id: p.pose for p in window.doc.photos}

    result = bench.run_session(window, moves=MOVES, hz=2000, gesture=250, export_every=8, export_dir=tmp_path)

    assert result.moves >= MOVES
    assert result.gestures == MOVES // 250
    assert all(p.pose != before[p.id] for p in window.doc.photos)  # both photos were edited
    assert result.renders_shown >= 20  # the model kept rendering during the drags
    assert messages.calls == [], messages.texts()
    assert result.exports >= 2
    assert (tmp_path / "final.png").stat().st_size > 0
    assert result.rss_end_mb - result.rss_start_mb < RSS_GROWTH_MB, result
    assert result.none_refcount_drift > -500, result  # a leaky binding: about -130 per move
    window.doc.undo.setClean()
    window.close()
