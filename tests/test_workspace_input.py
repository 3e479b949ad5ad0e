"""Bad values in a workspace file: whatever the editor saved reopens, and every bad value
gets one clear line (a repaired value) or one `WorkspaceError` line, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from vunet_studio.exports import ExportError, write_animation
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses
from vunet_studio.workspace import (
    MAX_FRAMES_BETWEEN,
    Photo,
    Workspace,
    WorkspaceError,
    interpolate_poses,
    load_workspace,
    save_workspace,
)

SIZE = (200, 300)


def saved_workspace(tmp_path: Path, pose: Pose | None = None) -> tuple[Path, Pose]:
    """A workspace with one photo and its edited pose, as the app saves it."""
    photo = tmp_path / "alice.png"
    Image.new("RGB", SIZE).save(photo)
    pose = pose or Pose.template(*SIZE, (40, 30, 120, 240))
    ws = Workspace()
    ws.photos.append(Photo(ws.new_id(), photo, pose=pose, source_pose=pose, origin="file"))
    ws.current = ws.photos[0].id
    ws.keyframes = [pose, pose.mirrored()]
    ws.settings = {"fps": 24.0, "frames_between": 3}
    path = tmp_path / "w.vunet"
    save_workspace(path, ws)
    return path, pose


def edit(path: Path, change: Any) -> None:
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))  # allow_nan: NaN and Infinity as a hand edit writes them


def test_joints_saved_far_outside_the_photo_reopen_at_its_edge(tmp_path: Path) -> None:
    # What Shift+arrow nudging while zoomed out saved: a joint 50 photo sizes away. The old
    # loader refused the whole workspace (and its recovery file) for ever.
    pose = Pose.template(*SIZE, (40, 30, 120, 240)).with_joint(4, 15_000.0, -9_000.0)
    path, _ = saved_workspace(tmp_path, pose)
    ws = load_workspace(path)
    (photo,) = ws.photos
    assert photo.pose is not None
    assert photo.pose.visible.all()
    assert tuple(photo.pose.xy[4]) == (SIZE[0], 0.0)  # moved to the photo's edge
    others = np.arange(18) != 4
    assert np.allclose(photo.pose.xy[others], pose.xy[others])  # the rest as edited
    assert len(ws.keyframes) == 2
    assert any("moved to its edge" in w and "alice.png" in w for w in ws.load_warnings)


def test_unreadable_joint_values_hide_that_joint_only(tmp_path: Path) -> None:
    path, pose = saved_workspace(tmp_path)

    def spoil(doc: dict) -> None:
        joints = doc["photos"][0]["pose"]["people"][0]["joints"]
        joints[3] = [float("nan"), 10.0]
        joints[5] = ["abc", 10.0]
        joints[7] = [10**400, 3.0]  # beyond float range

    edit(path, spoil)
    ws = load_workspace(path)
    (photo,) = ws.photos
    assert photo.pose is not None
    assert [j for j in range(18) if not photo.pose.visible[j]] == [3, 5, 7]
    assert np.allclose(photo.pose.xy[photo.pose.visible], pose.xy[photo.pose.visible])
    # Waiting where "show joint" brings them back on the person, not at the photo's corner.
    hidden = photo.pose.xy[[3, 5, 7]]
    assert np.all(hidden > 0)
    assert np.all(hidden < SIZE)
    assert photo.source_pose is not None
    assert photo.source_pose.visible.all()
    assert any("3 joint(s)" in w and "hidden" in w for w in ws.load_warnings)


def _set(where: str, value: Any):
    def put(node: Any, path: list[str]) -> None:
        for k in path[:-1]:
            node = node[int(k)] if isinstance(node, list) else node[k]
        node[path[-1]] = value

    def change(doc: dict) -> None:
        put(doc, where.split("."))
        if where.startswith("appearance") and "appearance" in doc["photos"][0]:
            put(doc, ["photos", "0", *where.split(".")])  # each photo keeps its own choice too

    return change


@pytest.mark.parametrize(
    ("where", "value", "said"),
    [
        ("appearance.seed", float("inf"), "seed inf"),
        ("appearance.seed", float("nan"), "seed nan"),
        ("appearance.seed", "abc", "seed 'abc'"),
        ("appearance.seed", [1, 2], "seed a list"),
        ("appearance.seed", 2**70, "seed 1.18e+21"),
        ("appearance", "photo", "appearance choice is unreadable"),
        ("appearance.mode", "dream", "mode 'dream'"),
        ("appearance.parts", 3, "part mix"),
        ("keyframes", 5, "keyframes are unreadable"),
        ("settings.fps", 0, "speed 0 frames per second"),
        ("settings.fps", float("inf"), "speed inf"),
        ("settings.frames_between", 1e12, "1000000000000.0 frames between"),
        ("settings.frames_between", float("inf"), "inf frames between"),
        ("settings.frames_between", -2, "-2 frames between"),
        ("settings", [1], "settings are unreadable"),
    ],
)
def test_a_bad_value_is_replaced_by_its_default_with_one_line(
    tmp_path: Path, where: str, value: Any, said: str
) -> None:
    path, pose = saved_workspace(tmp_path)
    edit(path, _set(where, value))
    ws = load_workspace(path)
    # The photo and its edited pose are kept ...
    assert [p.name for p in ws.photos] == ["alice.png"]
    assert ws.photos[0].pose == pose
    # ... the bad value is replaced by what the app would use without it ...
    assert 0 <= ws.appearance.seed < 2**31
    assert (
        ws.settings.get("fps", 12.0) >= 1
    )
    assert (
        0 <= ws.settings.get("frames_between", 0) <= MAX_FRAMES_BETWEEN
    )
    # ... and the user is told, in one line naming the value.
    assert ws.load_warnings
    assert all("\n" not in w for w in ws.load_warnings)
    assert any(said in w for w in ws.load_warnings), ws.load_warnings


def test_good_values_load_without_warnings(tmp_path: Path) -> None:
    path, _ = saved_workspace(tmp_path)
    edit(path, _set("appearance.seed", 42.0))  # a whole number written as a float is fine
    ws = load_workspace(path)
    assert ws.load_warnings == []
    assert ws.appearance.seed == 42
    assert ws.settings == {"fps": 24.0, "frames_between": 3}


def test_json_nested_thousands_deep_or_with_endless_numbers_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.vunet"
    path.write_text(
        '{"format": "vunet-studio-workspace", "version": 1, "settings": '
        + "[" * 100_000
        + "]" * 100_000
        + "}"
    )
    with pytest.raises(WorkspaceError, match=r"deep.vunet: .*nested too deeply"):
        load_workspace(path)
    pose_file = tmp_path / "deep.json"
    pose_file.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PoseFileError, match="nested too deeply"):
        read_poses(pose_file)
    path.write_text(
        '{"format": "vunet-studio-workspace", "version": 1, "photos": [], "x": ' + "7" * 5000 + "}"
    )
    with pytest.raises(
        WorkspaceError, match=r"deep.vunet: not valid JSON \(a number in it is thousands of digits long\)$"
    ):
        load_workspace(path)


def test_moderately_nested_settings_are_dropped_so_the_next_save_works(tmp_path: Path) -> None:
    path, _ = saved_workspace(tmp_path)
    deep: Any = 1
    for _ in range(900):
        deep = [deep]
    edit(path, _set("settings.extra", deep))
    ws = load_workspace(path)
    assert "extra" not in ws.settings
    assert ws.settings["fps"] == 24.0
    save_workspace(path, ws)  # would hit the recursion limit with the value kept
    assert load_workspace(path).photos[0].name == "alice.png"


def test_a_structurally_broken_pose_is_left_out_and_the_other_pose_stands_in(tmp_path: Path) -> None:
    path, pose = saved_workspace(tmp_path)
    edit(path, _set("photos.0.pose", {"format": "vunet-studio-pose", "version": 1}))
    ws = load_workspace(path)
    (photo,) = ws.photos
    assert photo.pose == pose  # the found pose, so no re-estimation overwrites the photo
    assert any("left out" in w for w in ws.load_warnings)


def test_a_photo_entry_without_path_is_left_out_not_the_workspace(tmp_path: Path) -> None:
    path, _ = saved_workspace(tmp_path)

    def broken_first(doc: dict) -> None:
        doc["photos"].insert(0, {"path": 7})
        doc["current"] = 1  # alice, now second in the file

    edit(path, broken_first)
    ws = load_workspace(path)
    assert [p.name for p in ws.photos] == ["alice.png"]
    assert ws.current == ws.photos[0].id  # the index still refers to the right photo
    assert any("photo 1 has no path" in w for w in ws.load_warnings)


def test_frames_between_is_bounded_where_the_animation_is_built() -> None:
    keys = [Pose.template(*SIZE), Pose.template(*SIZE).mirrored()]
    assert len(interpolate_poses(keys, MAX_FRAMES_BETWEEN)) == MAX_FRAMES_BETWEEN + 2
    for bad in (MAX_FRAMES_BETWEEN + 1, -1, float("inf")):
        with pytest.raises(ValueError, match="frames between poses"):
            interpolate_poses(keys, bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("fps", [0, -5.0, float("nan"), float("inf")])
def test_animation_speed_zero_is_an_export_error(tmp_path: Path, fps: float) -> None:
    frames = [np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 255, np.uint8)]
    with pytest.raises(ExportError, match="frames per second"):
        write_animation(tmp_path / "a.gif", frames, fps)
    assert not (tmp_path / "a.gif").exists()
