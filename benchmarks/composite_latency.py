"""The person re-posed inside their photo: drag-to-pixels, GUI stalls and export times.

    python benchmarks/composite_latency.py [--checkpoint CKPT] [--moves 100] [--look PHOTO [--no-borrow] [--no-body]]
        [--json OUT]

For a 640x480 photo (OpenCV's basketball1, from tests/data/photos) and the same photo
enlarged to 12 megapixels (4000x3000), with the real engine (the default model unless
--checkpoint), offscreen:
  * drag latency: the pointer comes onto a joint and rests there --hover-s (0.5 s; none
    with --no-hover), then drags it with --moves mouse moves at --hz; for every composited
    frame shown, the time from the mouse event that asked for it to the frame on the canvas
    (p50/p95, and the drag's first frame alone), and frames shown per second;
  * the GUI thread's longest stall during the drag (largest gap of a 5 ms heartbeat, - 5 ms);
  * export: the still at full resolution, and a 60-frame animation (GIF at the photo's size
    capped by the animation-size preference, 1280 px by default), from the click to the file.
--look PHOTO re-poses each photo's person with PHOTO's look, that photo's head and body carried
onto the pose (`vunet_studio.borrowed`; --no-borrow: View ▸ Carry the look photo's head, off;
--no-body: View ▸ Carry the look photo's body, off).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "scripts"))

from dev_studio import isolate, open_window, wait_for_model, wait_until  # noqa: E402
from gui_latency import Heartbeat, percentile, send_mouse  # noqa: E402


def _photos(folder: Path) -> list[Path]:
    import cv2

    from vunet_studio.exports import write_image
    from vunet_studio.imageio import load_image

    small = REPO / "tests" / "data" / "photos" / "basketball1.png"
    big = folder / "basketball1_12mp.png"
    upscaled = cv2.resize(load_image(small), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    write_image(big, upscaled, compress_level=1)  # fast: only the pixels matter
    return [small, big]


def run(args: argparse.Namespace) -> list[dict]:
    isolate()
    from PySide6.QtCore import QEvent, QEventLoop, QPoint, Qt, QTimer

    from vunet_studio.skeleton import JOINT_INDEX

    app, window = open_window(args)
    window.load_engine()
    window.composite_view.act_keep.setChecked(not args.no_keep)
    window.composite_view.act_borrow.setChecked(not args.no_borrow)
    window.composite_view.act_body.setChecked(not args.no_body)
    problem = wait_for_model(app, window)
    if problem:
        raise RuntimeError(problem)
    tmp = Path(tempfile.mkdtemp(prefix="vunet-composite-"))

    def measure(path: Path) -> dict:
        (pid,) = window.files.add_photos([path])
        window.doc.set_current(pid)
        if not wait_until(app, lambda: window.doc.current.origin not in ("pending",), 120):
            raise RuntimeError("no pose found")
        if not wait_until(app, window.canvas.composite_shown, 120):
            raise RuntimeError("no composite shown (the empty scene was not made?)")
        photo = window.doc.current
        if args.look:
            from vunet_studio.workspace import AppearanceSpec

            (look,) = window.files.add_photos([Path(args.look)])
            window.doc.set_current(pid)
            window.editor.set_appearance(AppearanceSpec(mode="photo", source=look), "Use the look")
            view = window.composite_view

            def ready() -> bool:
                job = view.job_for(photo)
                return job is not None and (args.no_borrow or job.borrowed is not None)

            if not wait_until(app, ready, 120):
                raise RuntimeError("the look photo's person mask was not made")
            window.editor.request_render()
            wait_until(app, lambda: False, 1.0)
        canvas, vp = window.canvas, window.canvas.viewport()
        latencies: list[float] = []
        window.composite_view.frameShown.connect(latencies.append)
        start = canvas.mapFromScene(canvas.joint_scene_pos(JOINT_INDEX["rwrist"]))

        def send(kind: QEvent.Type, pos: QPoint, buttons, button) -> None:
            send_mouse(vp, kind, pos, buttons, button)

        left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
        if not args.no_hover:
            # As a user's pointer does: it comes onto the joint, rests, then presses.
            send(QEvent.Type.MouseMove, start + QPoint(12, 0), none, none)
            send(QEvent.Type.MouseMove, start, none, none)
            wait_until(app, lambda: False, args.hover_s)
        heartbeat = Heartbeat()
        send(QEvent.Type.MouseButtonPress, start, left, left)
        heartbeat.start()
        loop, state = QEventLoop(), {"k": 0}
        mover = QTimer()
        mover.setTimerType(Qt.TimerType.PreciseTimer)
        mover.setInterval(round(1000 / args.hz))
        t0 = time.perf_counter()

        def move() -> None:
            state["k"] += 1
            k = state["k"]
            a = math.pi * k / args.moves
            pos = start + QPoint(round(60 * math.sin(a)), round(-60 * (1 - math.cos(a))))
            send(QEvent.Type.MouseMove, pos, left, none)
            if k >= args.moves:
                mover.stop()
                state["frames"], state["drag_s"] = len(latencies), time.perf_counter() - t0
                send(QEvent.Type.MouseButtonRelease, pos, none, left)
                QTimer.singleShot(1500, loop.quit)

        mover.timeout.connect(move)
        mover.start()
        loop.exec()
        stall = heartbeat.stop()
        window.composite_view.frameShown.disconnect(latencies.append)

        # Exports: the still at full resolution, then a 60-frame animation.
        done: list[str] = []
        window.files.exported.connect(done.append)
        t = time.perf_counter()
        window.files.export_render(tmp / f"{path.stem}_still.png")
        wait_until(app, lambda: len(done) >= 1, 300)
        still_s = time.perf_counter() - t
        window.editor.add_keyframe()
        window.editor.reset_pose()
        window.editor.add_keyframe()
        window.prefs.frames_between = 58  # 2 keys + 58 between = 60 frames
        t = time.perf_counter()
        window.files.export_animation(tmp / f"{path.stem}_anim.gif", loop=False)
        wait_until(app, lambda: len(done) >= 2, 600)
        anim_s = time.perf_counter() - t
        window.files.exported.disconnect(done.append)
        window.doc.ws.keyframes.clear()
        return {
            "photo": f"{photo.size[0]}x{photo.size[1]}",
            "moves": args.moves,
            "frames_shown": len(latencies),
            "fps": round(state["frames"] / state["drag_s"], 1),
            "latency_ms_p50": round(percentile(latencies, 50), 1),
            "latency_ms_p95": round(percentile(latencies, 95), 1),
            "latency_ms_first": round(latencies[0], 1) if latencies else None,
            "gui_stall_ms_max": round(stall, 1),
            "export_still_s": round(still_s, 2),
            "export_60_frames_s": round(anim_s, 2),
            "exports_ok": len(done) == 2,
        }

    results = [measure(path) for path in _photos(tmp)]
    window.doc.undo.setClean()
    window.close()
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--hover-s", type=float, default=0.5, help="the pointer rests on the joint this long before the press")
    ap.add_argument("--no-hover", action="store_true", help="press without first moving onto the joint")
    ap.add_argument(
        "--no-keep",
        action="store_true",
        help="render the whole person (View ▸ Keep the photo where the pose is unchanged, off)",
    )
    ap.add_argument("--look", help="re-pose with this photo's look (its head carried onto the pose)")
    ap.add_argument("--no-borrow", action="store_true", help="with --look: render the head too")
    ap.add_argument("--no-body", action="store_true", help="with --look: render the torso and limbs too")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    from vunet_studio.devices import cpu_summary

    print(f"machine: {cpu_summary()}")
    results = run(args)
    for r in results:
        print("  ".join(f"{k}={v}" for k, v in r.items()))
    if args.json:
        from vunet_studio.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
