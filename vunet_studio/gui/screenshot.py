"""Make docs/screenshot.png: the studio with a photo and its person re-posed in it.

    python -m vunet_studio.gui.screenshot docs/screenshot.png [--photo IMG] [--checkpoint CKPT] [--fake-engine]

Runs offscreen with throwaway settings, so it neither needs a display nor touches the
user's preferences. Without --fake-engine it uses the real model (the default checkpoint
unless --checkpoint) and fails if that cannot load.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)


def _wait(app, condition, timeout_s: float) -> bool:  # noqa: ANN001
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        app.processEvents()
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fake-engine", action="store_true")
    ap.add_argument("--size", default="1440x900")
    ap.add_argument("--photo", type=Path, help="a photo to show instead of the bundled samples")
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
    cli += ["--device", args.device]
    window = create_window(parse_args(cli))
    w, h = (int(v) for v in args.size.split("x"))
    window.resize(w, h)
    window.show()
    samples = [args.photo] if args.photo else sample_photos()
    if not samples:
        log.error("no sample photos in resources/samples")
        return 1
    window.files.add_photos(samples)
    window.load_engine()
    doc = window.doc
    if not _wait(app, lambda: all(p.pose is not None for p in doc.photos), 60):
        log.error("poses were not found in time")
        return 1
    if not _wait(app, lambda: window.render.ready or bool(window.render.last_error), 300):
        log.error("the model did not load in time")
        return 1
    if not window.render.ready:
        log.error("the model failed to load: %s", window.render.last_error)
        return 1
    doc.set_current(doc.photos[0].id)
    photo = doc.current
    assert photo is not None and photo.pose is not None
    # Re-pose: raise the right arm and step the left leg out, like a user would.
    xy = photo.pose.xy.copy()
    sh, el, wr = (JOINT_INDEX[n] for n in ("rshoulder", "relbow", "rwrist"))
    upper = float(abs(xy[el, 1] - xy[sh, 1])) or 20.0
    xy[el] = xy[sh] + (-0.7 * upper, -0.6 * upper)
    xy[wr] = xy[el] + (-0.2 * upper, -0.95 * upper)
    hip, knee, ankle = (JOINT_INDEX[n] for n in ("lhip", "lknee", "lankle"))
    thigh = float(abs(xy[knee, 1] - xy[hip, 1])) or 30.0
    xy[knee] = xy[hip] + (0.35 * thigh, 0.95 * thigh)
    xy[ankle] = xy[knee] + (0.45 * thigh, 0.9 * thigh)
    new = photo.pose.with_xy(xy)
    frames = window.render_view.frames_shown
    doc.undo.push(SetPoseCommand(doc, photo.id, photo.pose, new, "Re-pose"))
    window.canvas.selected_joint = wr
    window.canvas.set_pose(new)
    if not _wait(app, lambda: window.render_view.frames_shown > frames, 60):
        log.error("no render arrived")
        return 1
    # The photo with the person re-posed in it comes once its empty scene is made.
    if not _wait(app, window.canvas.composite_shown, 60):
        log.warning("no composite shown: the screenshot has the photo itself")
    frames = window.render_view.frames_shown
    window.editor.request_render()
    _wait(app, lambda: window.render_view.frames_shown > frames, 30)
    _wait(app, lambda: False, 0.3)  # let the status bar and panels settle
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(str(args.out))
    log.info("wrote %s (%s engine)", args.out, "fake" if args.fake_engine else "real")
    doc.undo.setClean()
    window.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
