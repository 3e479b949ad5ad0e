"""Make the pictures of docs/: the studio, its keyframes strip, the animation dialog and an export.

    python scripts/screenshots.py [studio] [keyframes] [--out docs] [--photo IMG] [--checkpoint CKPT]
        [--device auto] [--fake-engine] [--size 1440x900]

  studio     docs/screenshot.png: the studio with a photo (--photo, else the bundled samples)
             and its person re-posed in it
  keyframes  docs/keyframes.png (the keyframes strip), docs/animation_dialog.png (the export
             dialog with its preview) and docs/keyframes_demo.mp4 (the H.264 export), from the
             first bundled sample

Both when none is named. Runs offscreen with throwaway settings, so it neither needs a display
nor touches the user's preferences; the real model (the default checkpoint unless --checkpoint)
unless --fake-engine, and fails if that cannot load.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from dev_studio import isolate, open_window, wait_for_model, wait_until  # noqa: E402

log = logging.getLogger("screenshots")


def _open(args: argparse.Namespace, photos: list[Path]) -> tuple[Any, Any]:
    """(app, window) with `photos` open, their poses found and the model loaded; SystemExit if not."""
    w, h = (int(v) for v in args.size.split("x"))
    app, window = open_window(args, (w, h))
    window.load_engine()
    window.files.add_photos(photos)
    problem = wait_for_model(app, window, 300)
    if not problem and not wait_until(app, lambda: all(p.pose is not None for p in window.doc.photos), 60):
        problem = "poses were not found in time"
    if problem:
        log.error("%s", problem)
        raise SystemExit(1)
    return app, window


def studio(args: argparse.Namespace) -> None:
    """docs/screenshot.png: re-pose the first photo's person as a user would."""
    from vunet_studio.gui.commands import SetPoseCommand
    from vunet_studio.gui.files import sample_photos
    from vunet_studio.skeleton import JOINT_INDEX

    app, window = _open(args, [args.photo] if args.photo else sample_photos())
    doc = window.doc
    doc.set_current(doc.photos[0].id)
    photo = doc.current
    assert photo is not None
    assert photo.pose is not None
    # Raise the right arm and step the left leg out.
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
    if not wait_until(app, lambda: window.render_view.frames_shown > frames, 60):
        log.error("no render arrived")
        raise SystemExit(1)
    # The photo with the person re-posed in it comes once its empty scene is made.
    if not wait_until(app, window.canvas.composite_shown, 60):
        log.warning("no composite shown: the screenshot has the photo itself")
    frames = window.render_view.frames_shown
    window.editor.request_render()
    wait_until(app, lambda: window.render_view.frames_shown > frames, 30)
    wait_until(app, lambda: False, 0.3)  # let the status bar and panels settle
    out = args.out / "screenshot.png"
    if not window.grab().save(str(out)):
        log.error("cannot write %s", out)
        raise SystemExit(1)
    doc.undo.setClean()
    window.close()


def keyframes(args: argparse.Namespace) -> None:
    """docs/keyframes.png, animation_dialog.png and keyframes_demo.mp4: a wave of four keyframes."""
    from vunet_studio.exports import animation_frames
    from vunet_studio.gui.commands import SetPoseCommand
    from vunet_studio.gui.files import sample_photos
    from vunet_studio.gui.render_worker import AnimationJob
    from vunet_studio.skeleton import JOINT_INDEX

    app, window = _open(args, sample_photos()[:1])
    doc = window.doc
    photo = doc.current
    assert photo is not None
    assert photo.pose is not None
    h = photo.size[1]
    # The right arm rises and falls, the left follows half a beat later.
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
    window.keyframes_dock.resize(900, window.keyframes_dock.height())
    app.processEvents()
    window.keyframes_dock.grab().save(str(args.out / "keyframes.png"))

    dialog = window.show_animation_dialog()
    assert dialog is not None
    dialog.frames_between.setValue(4)
    if not wait_until(app, lambda: dialog.frames_shown == 4 * 5, 60):
        log.error("the preview did not render")
        raise SystemExit(1)
    for _ in range(7):
        dialog._next_frame()
    app.processEvents()
    dialog.grab().save(str(args.out / "animation_dialog.png"))
    dialog.reject()

    job = window.editor.appearance_job(doc.appearance, photo)
    frames = animation_frames(doc.ws.keyframes, 4, True)
    done: list[str] = []
    window.render_service.animationDone.connect(lambda path, err: done.append(err))
    window.render_service.export_animation(
        AnimationJob(args.out / "keyframes_demo.mp4", tuple(frames), job, 12.0, True)
    )
    if not wait_until(app, lambda: bool(done), 120) or done[0]:
        log.error("the MP4 export failed: %s", done)
        raise SystemExit(1)
    doc.undo.setClean()
    window.close()


SHOTS = {"studio": studio, "keyframes": keyframes}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shots", nargs="*", metavar="|".join(SHOTS), help="which pictures (default: all)")
    ap.add_argument("--out", type=Path, default=REPO / "docs", help="folder (default: docs/)")
    ap.add_argument("--photo", type=Path, help="studio: a photo to show instead of the bundled samples")
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fake-engine", action="store_true", help="the tests' stand-in engine (no model)")
    ap.add_argument("--size", default="1440x900", help="window size (default 1440x900)")
    args = ap.parse_args(argv)
    unknown = sorted(set(args.shots) - set(SHOTS))
    if unknown:
        ap.error(f"no such pictures: {', '.join(unknown)} (choose from {', '.join(SHOTS)})")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    isolate("vunet-shot-")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.shots or list(SHOTS):
        SHOTS[name](args)
        log.info("%s: written to %s (%s engine)", name, args.out, "fake" if args.fake_engine else "real")
    return 0


if __name__ == "__main__":
    sys.exit(main())
