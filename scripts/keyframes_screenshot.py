"""Make docs/keyframes.png (the keyframes strip), docs/animation_dialog.png (the export
dialog with its preview) and docs/keyframes_demo.mp4 (the H.264 export) from a sample photo.

    python scripts/keyframes_screenshot.py [--fake-engine] [--checkpoint CKPT]

Offscreen, with throwaway settings; the real default model unless --fake-engine.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("keyframes_screenshot")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fake-engine", action="store_true")
    ap.add_argument("--checkpoint")
    ap.add_argument("--out", type=Path, default=REPO / "docs")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = tempfile.mkdtemp(prefix="vunet-shot-")
    os.environ["VUNET_STUDIO_DATA_DIR"] = tmp
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)

    from vunet_studio.gui.app import application, create_window, parse_args
    from vunet_studio.gui.commands import SetPoseCommand
    from vunet_studio.gui.files import sample_photos
    from vunet_studio.skeleton import JOINT_INDEX

    app = application()
    cli = ["--no-samples"] + (["--fake-engine"] if args.fake_engine else [])
    cli += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    window = create_window(parse_args(cli))
    window.resize(1440, 900)
    window.show()

    def wait(cond, timeout: float = 120.0) -> bool:  # noqa: ANN001
        end = time.monotonic() + timeout
        while time.monotonic() < end and not cond():
            app.processEvents()
            time.sleep(0.005)
        return bool(cond())

    window.load_engine()
    window.files.add_photos(sample_photos()[:1])
    if not wait(lambda: window.render.ready and window.doc.current and window.doc.current.pose is not None):
        log.error("the model or the pose did not arrive: %s", window.render.last_error)
        return 1
    doc = window.doc
    photo = doc.current
    h = photo.size[1]
    # A wave: the right arm rises and falls, the left follows half a beat later.
    lifts = [(0.0, 0.0), (0.25, 0.05), (0.35, 0.25), (0.1, 0.35)]
    base = photo.pose
    for right, left in lifts:
        xy = base.xy.copy()
        for joint, lift in (("rwrist", right), ("relbow", right / 2), ("lwrist", left), ("lelbow", left / 2)):
            xy[JOINT_INDEX[joint], 1] -= lift * h
        pose = base.with_xy(xy)
        doc.undo.push(SetPoseCommand(doc, photo.id, photo.pose, pose, "pose"))
        window.keyframes.add()
    window.keyframe_strip.list.setCurrentRow(2)
    app.processEvents()
    args.out.mkdir(parents=True, exist_ok=True)
    window.keyframes_dock.resize(900, window.keyframes_dock.height())
    app.processEvents()
    window.keyframes_dock.grab().save(str(args.out / "keyframes.png"))

    dialog = window.show_animation_dialog()
    assert dialog is not None
    dialog.frames_between.setValue(4)
    if not wait(lambda: dialog.frames_shown == 4 * 5, 60):
        log.error("the preview did not render")
        return 1
    for _ in range(7):
        dialog._next_frame()
    app.processEvents()
    dialog.grab().save(str(args.out / "animation_dialog.png"))
    dialog.reject()

    from vunet_studio.gui.render_worker import AnimationJob

    job = window.editor.appearance_job(doc.appearance, photo)
    from vunet_studio.gui.export import animation_frames

    frames = animation_frames(doc.ws.keyframes, 4, True)
    done: list[str] = []
    window.render.animationDone.connect(lambda path, err: done.append(err))
    window.render.export_animation(
        AnimationJob(args.out / "keyframes_demo.mp4", tuple(frames), job, 12.0, True)
    )
    if not wait(lambda: bool(done), 120) or done[0]:
        log.error("the MP4 export failed: %s", done)
        return 1
    doc.undo.setClean()
    window.close()
    log.info("wrote keyframes.png, animation_dialog.png and keyframes_demo.mp4 to %s", args.out)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
