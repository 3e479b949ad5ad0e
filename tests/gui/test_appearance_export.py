"""Appearance sources (swap, per-part mix, random), copy pose, and every export."""

from __future__ import annotations

import numpy as np
from PIL import Image

from vunet_studio.gui.qimage import rgb_from_qimage
from vunet_studio.pose_io import read_poses
from vunet_studio.skeleton import JOINT_INDEX


def wait_render(qtbot, window, action) -> np.ndarray:
    """Run `action` and return the render of the state it produced (not an older one in flight)."""
    with qtbot.waitSignal(window.render_service.imageReady, timeout=5000):
        action()
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    return rgb_from_qimage(window.render_view.image())


def test_swap_appearance_source(qtbot, loaded) -> None:
    window, ids = loaded
    qtbot.waitUntil(window.render_service.caught_up, timeout=5000)
    own = rgb_from_qimage(window.render_view.image())
    swapped = wait_render(qtbot, window, lambda: window.editor.use_appearance_of(ids[1]))
    assert window.doc.appearance.mode == "photo"
    assert window.doc.appearance.source == ids[1]
    assert window.appearance_panel.source.currentText() == "bob.jpg"
    # alice is red, bob is blue: the fake engine tints by the source's colours.
    assert np.abs(own.astype(int) - swapped.astype(int)).mean() > 1.0
    assert swapped[..., 2].mean() > own[..., 2].mean()
    window.doc.undo.undo()
    assert window.doc.appearance.source is None


def test_appearance_panel_mix_and_shuffle(qtbot, loaded) -> None:
    window, ids = loaded
    panel = window.appearance_panel
    panel.mix_mode.click()
    assert window.doc.appearance.mode == "mix"
    wait_render(
        qtbot, window, lambda: panel.part_combos[0].setCurrentIndex(panel.part_combos[0].findData(ids[1]))
    )
    assert window.doc.appearance.parts[0] == ids[1]
    assert window.doc.appearance.parts[1] is None
    seed = window.doc.appearance.seed
    wait_render(qtbot, window, window.act_shuffle.trigger)
    assert window.doc.appearance.mode == "sample"
    assert window.doc.appearance.seed != seed
    assert panel.sample_mode.isChecked()
    assert panel.seed.value() == window.doc.appearance.seed


def test_copy_pose_of_another_photo(qtbot, loaded) -> None:
    window, ids = loaded
    doc = window.doc
    alice, bob = doc.photo(ids[0]), doc.photo(ids[1])
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))  # give bob a raised right wrist to copy
    window.editor.copy_pose_from(ids[1])
    new = alice.pose

    def torso(p):  # (hip centre, neck to hip centre)
        neck = (p.xy[JOINT_INDEX["rshoulder"]] + p.xy[JOINT_INDEX["lshoulder"]]) / 2
        hip = (p.xy[JOINT_INDEX["rhip"]] + p.xy[JOINT_INDEX["lhip"]]) / 2
        return hip, float(np.linalg.norm(neck - hip))

    # Alice keeps her size and place, whatever bob's raised wrist does to his joints' box.
    (hip_a, len_a), (hip_n, len_n) = torso(alice.source_pose), torso(new)
    assert np.allclose(hip_n, hip_a, atol=0.5)
    assert abs(len_n - len_a) < 0.5
    assert doc.undo.undoText() == "Copy pose of bob.jpg"
    # The raised wrist came along.
    assert new.xy[4, 1] < new.xy[3, 1]


def test_export_square_render_png_and_jpeg(qtbot, loaded, tmp_path) -> None:
    window, _ = loaded
    for name in ("render.png", "render.jpg"):
        assert window.files.export_render(tmp_path / name, square=True)
        img = np.asarray(Image.open(tmp_path / name))
        assert img.shape == (128, 128, 3)
    assert "render.jpg" in window.statusBar().currentMessage()


def test_export_is_the_photo_at_its_size_with_the_person_re_posed(qtbot, loaded, tmp_path) -> None:
    window, _ = loaded
    photo = window.doc.current
    qtbot.waitUntil(lambda: window.composite_view.export_job(photo) is not None, timeout=20000)
    for name in ("photo.png", "photo.jpg"):
        with qtbot.waitSignal(window.files.exported, timeout=10000):
            assert window.files.export_render(tmp_path / name)
        img = np.asarray(Image.open(tmp_path / name).convert("RGB"))
        assert img.shape == (photo.size[1], photo.size[0], 3)
    png = np.asarray(Image.open(tmp_path / "photo.png").convert("RGB"))
    # The pose as found, with the person's own look: the photo itself (nothing moved).
    assert np.array_equal(png, photo.image)
    # The whole person rendered (View ▸ Keep off): far from them the photo's own pixels, on
    # them the render.
    window.composite_view.act_keep.setChecked(False)
    with qtbot.waitSignal(window.files.exported, timeout=10000):
        assert window.files.export_render(tmp_path / "rendered.png")
    png = np.asarray(Image.open(tmp_path / "rendered.png").convert("RGB"))
    assert np.array_equal(png[:8, :8], photo.image[:8, :8])
    assert not np.array_equal(png, photo.image)


def test_export_dialog_adds_the_chosen_filters_suffix(qtbot, loaded, tmp_path, monkeypatch) -> None:
    from PySide6.QtWidgets import QFileDialog

    window, _ = loaded
    answer = (str(tmp_path / "typed_without_suffix"), "JPEG image (*.jpg *.jpeg)")
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: answer)
    assert window.files.export_render(square=True)
    assert (tmp_path / "typed_without_suffix.jpg").is_file()


def test_export_render_refuses_bad_extension_with_message(qtbot, loaded, tmp_path, messages) -> None:
    window, _ = loaded
    assert not window.files.export_render(tmp_path / "render.tga")
    assert "png" in messages.texts()
    assert not (tmp_path / "render.tga").exists()


def test_export_without_render_says_why(qtbot, make_window, messages, tmp_path) -> None:
    window = make_window(load=False)
    assert not window.files.export_render(tmp_path / "x.png")
    assert "no render" in messages.texts().lower()


def test_export_pose_formats_read_back(qtbot, loaded, tmp_path) -> None:
    window, _ = loaded
    photo = window.doc.current
    window.editor.toggle_joint(16)  # hidden joints stay hidden in every format
    pose = photo.pose
    for name in ("p_openpose.json", "p.coco.json", "p.pose.json"):
        assert window.files.export_pose(tmp_path / name)
        (back,) = read_poses(tmp_path / name, photo.size)
        assert not back.visible[16]
        vis = back.visible.copy()
        vis[1] &= "coco" not in name  # COCO has no neck: it comes back as the shoulder midpoint
        assert np.allclose(back.xy[vis], pose.xy[vis], atol=0.01)


def test_export_animation_gif_and_mp4(qtbot, loaded, tmp_path) -> None:
    window, ids = loaded
    window.prefs.frames_between = 2
    bob = window.doc.photo(ids[1])
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))  # distinct poses: GIF merges equal frames
    for name in ("anim.gif", "anim.mp4"):
        with qtbot.waitSignal(window.files.exported, timeout=10000) as sig:
            assert window.files.export_animation(tmp_path / name)
        assert sig.args == [str(tmp_path / name)]
        assert (tmp_path / name).stat().st_size > 0
    gif = Image.open(tmp_path / "anim.gif")
    assert gif.n_frames == 4  # two photos' poses, two frames between


def test_animation_frames_are_the_photo_capped_by_the_size_setting(qtbot, loaded, tmp_path) -> None:
    window, ids = loaded
    photo = window.doc.current  # 200 x 300
    qtbot.waitUntil(lambda: window.composite_view.export_job(photo) is not None, timeout=20000)
    window.prefs.frames_between = 1
    bob = window.doc.photo(ids[1])
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))
    for side, size in ((1280, (200, 300)), (150, (100, 150))):
        window.prefs.export_max_side = side
        with qtbot.waitSignal(window.files.exported, timeout=10000):
            assert window.files.export_animation(tmp_path / f"photo{side}.gif")
        gif = Image.open(tmp_path / f"photo{side}.gif")
        assert gif.size == size
        first = np.asarray(gif.convert("RGB"))
        assert np.abs(first[:4, :4].astype(int) - photo.image[0, 0]).max() <= 8  # the photo's own corner


def test_animation_from_keyframes(qtbot, loaded, tmp_path) -> None:
    window, ids = loaded
    window.prefs.frames_between = 1
    window.editor.add_keyframe()
    bob = window.doc.photo(ids[1])
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))
    window.editor.copy_pose_from(ids[1])
    window.editor.add_keyframe()
    window.editor.reset_pose()
    window.editor.add_keyframe()
    assert len(window.files.animation_poses()) == 3
    with qtbot.waitSignal(window.files.exported, timeout=10000):
        window.files.export_animation(tmp_path / "keys.gif")
    assert Image.open(tmp_path / "keys.gif").n_frames == 5


def test_animation_needs_two_poses(qtbot, window, photos, messages, tmp_path) -> None:
    from gui_helpers import open_and_wait

    open_and_wait(qtbot, window, photos[:1])
    assert not window.files.export_animation(tmp_path / "a.gif")
    assert "two or more poses" in messages.texts()


def _slow_animation(window, ids, frames_between: int = 10) -> None:
    """Two distinct poses, `frames_between` frames between them, each frame's render 40 ms."""
    window.prefs.frames_between = frames_between
    bob = window.doc.photo(ids[1])
    bob.pose = bob.pose.with_joint(4, *(bob.pose.xy[4] + (-30, -60)))
    window.render_service.worker._engine.delay_s = 0.04


def test_a_long_animation_export_shows_how_far_it_is(qtbot, loaded, tmp_path) -> None:
    window, ids = loaded
    _slow_animation(window, ids)
    seen = []
    window.render_service.animationProgress.connect(
        lambda _p, done, total: seen.append((done, total, window.progress.isVisible(), window.cancel_export.isVisible()))
    )
    with qtbot.waitSignal(window.files.exported, timeout=20000):
        assert window.files.export_animation(tmp_path / "long.gif")
    total = seen[-1][1]
    assert [d for d, *_ in seen] == list(range(1, total + 1))  # every frame counted, in order
    _, _, bar, cancel = seen[total // 2 - 1]
    assert bar  # mid-export: the bar and its Cancel button are on the status bar
    assert cancel
    assert window.progress.maximum() == total
    qtbot.waitUntil(lambda: not window.progress.isVisible() and not window.cancel_export.isVisible())
    assert Image.open(tmp_path / "long.gif").n_frames == total


def test_cancelling_an_animation_export_writes_nothing(qtbot, loaded, tmp_path) -> None:
    window, ids = loaded
    _slow_animation(window, ids)
    (tmp_path / "keep.gif").write_bytes(b"the user's own file")  # an earlier export, not to be touched
    done = []
    window.render_service.animationDone.connect(lambda *a: done.append(a))
    with qtbot.waitSignal(window.render_service.animationProgress, timeout=10000):
        assert window.files.export_animation(tmp_path / "keep.gif")
    with qtbot.waitSignal(window.render_service.animationCancelled, timeout=10000):
        window.cancel_export.click()
    assert not done
    assert (tmp_path / "keep.gif").read_bytes() == b"the user's own file"
    assert "cancelled: nothing was written" in window.statusBar().currentMessage()
    assert not window.progress.isVisible()
    assert not window.cancel_export.isVisible()
    # The next export runs to the end: the cancel was for that one only.
    with qtbot.waitSignal(window.files.exported, timeout=20000):
        assert window.files.export_animation(tmp_path / "next.gif")
    assert (tmp_path / "next.gif").stat().st_size > 0


def test_a_still_export_shows_a_busy_bar_until_written(qtbot, loaded, tmp_path) -> None:
    window, _ = loaded
    photo = window.doc.current
    qtbot.waitUntil(lambda: window.composite_view.export_job(photo) is not None, timeout=20000)
    window.render_service.worker._engine.delay_s = 0.3
    with qtbot.waitSignal(window.files.exported, timeout=10000):
        assert window.files.export_render(tmp_path / "still.png")
        assert window.progress.isVisible()  # while the still renders
        assert window.progress.maximum() == 0  # busy: one step of unknown length
        assert not window.cancel_export.isVisible()
    assert not window.progress.isVisible()
    assert (tmp_path / "still.png").stat().st_size > 0
