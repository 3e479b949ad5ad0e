"""Bad input driven through the window: a broken workspace on the command line, animation
settings out of range, a FIFO as a photo. One clear message each, the model still loads,
nothing hangs."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from _fifo_helpers import GRACE_S, unblock

from vunet_studio.pose import Pose
from vunet_studio.workspace import Photo, Workspace, save_workspace

POSE = Pose.template(200, 300, (40, 30, 120, 240))


def spoiled_workspace(tmp_path: Path, photo: Path, spoil: Any) -> Path:
    ws = Workspace()
    ws.photos.append(Photo(ws.new_id(), photo, pose=POSE, source_pose=POSE, origin="file"))
    ws.current = ws.photos[0].id
    path = tmp_path / "spoiled.vunet"
    save_workspace(path, ws)
    doc = json.loads(path.read_text())
    spoil(doc)
    path.write_text(json.dumps(doc))
    return path


def _bad_values(doc: dict) -> None:
    doc["appearance"] = "photo"  # a string where the choice's settings belong
    doc["photos"][0]["appearance"] = "photo"
    doc["settings"] = {"fps": 0, "frames_between": 1e12}


@pytest.mark.parametrize("case", ["bad values", "deep nesting"])
def test_bad_workspace_on_the_command_line_still_loads_the_model(
    qtbot, make_window, photos, messages, tmp_path, case
) -> None:
    from vunet_studio.gui.app import parse_args, startup

    if case == "bad values":
        path = spoiled_workspace(tmp_path, photos[0], _bad_values)
    else:
        path = tmp_path / "deep.vunet"
        path.write_text(
            '{"format": "vunet-studio-workspace", "version": 1, "photos": '
            + "[" * 50_000
            + "]" * 50_000
            + "}"
        )
    window = make_window(load=False)
    with qtbot.waitSignal(window.render_service.engineReady, timeout=10000):
        startup(window, parse_args([str(path)]))
    texts = messages.texts()
    if case == "bad values":
        # The photo and its edited pose open; each bad value is named on its own line.
        assert [p.name for p in window.doc.photos] == ["alice.png"]
        assert window.doc.photos[0].pose == POSE
        assert "repaired" in texts
        assert "appearance choice is unreadable" in texts
        assert "0 frames per second" in texts
        assert "frames between poses" in texts
        assert (window.prefs.fps, window.prefs.frames_between) == (12.0, 8)  # the app's own
    else:
        assert "deep.vunet: cannot be read: the JSON is nested too deeply" in texts
        assert "Traceback" not in texts


def test_export_refuses_animation_settings_out_of_range_at_once(qtbot, loaded, messages, tmp_path) -> None:
    window, _ = loaded
    window.prefs.frames_between = 100  # beyond what Preferences offers (a hand-edited setting)
    assert not window.files.export_animation(tmp_path / "a.gif")
    assert "frames between poses must be a whole number from 0 to 60" in messages.texts()
    window.prefs.frames_between, window.prefs.fps = 2, 0.0
    assert not window.files.export_animation(tmp_path / "b.gif")
    assert "0.0 frames per second is not a speed" in messages.texts()
    assert not (tmp_path / "a.gif").exists()
    assert not (tmp_path / "b.gif").exists()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_fifo_opened_as_a_photo_is_refused_without_freezing_the_window(
    qtbot, window, photos, messages, fifo
) -> None:
    camera = fifo("camera.png")
    t0 = time.monotonic()
    with unblock(camera):
        window.files.open_paths([camera, photos[1]])
    assert time.monotonic() - t0 < GRACE_S, "the GUI thread blocked on the FIFO"
    assert "camera.png: is a pipe (FIFO), not a regular file" in messages.texts()
    qtbot.waitUntil(lambda: [p.name for p in window.doc.photos] == ["bob.jpg"], timeout=5000)
