"""Drag-to-pixels latency of the studio while another process keeps a core busy.

    python benchmarks/busy_drag.py [--checkpoint CKPT] [--fake-engine] [--moves 100] [--json OUT]

One run, one window, one loaded model, several drags of the right wrist (mouse moves at --hz
from a timer in the event loop, as real input comes), each reported with drag-to-pixels
p50/p95 (from the mouse event that asked for a frame to the repainted render), frames shown
per second during the drag, release-to-final-pixels (mouse release until the render of the
released pose is on screen) and the render thread count at the end:

  quiet             nothing else started by this script;
  busy              a CPU hog (`while True: pass`) pinned to one core, started after the model
                    loaded, so the engine has to notice it while running;
  busy, fixed       the same hog with the thread count fixed at all cores, as the engine chose
                    it before it adapted (the "before" figure);
  quiet again       the hog stopped: the engine should go back to all threads.

The machine may be shared: the load average is printed with each phase.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "scripts"))

from dev_studio import isolate, open_window, wait_for_model, wait_until  # noqa: E402
from gui_latency import percentile, send_mouse  # noqa: E402

HOG = "import os, sys\nos.sched_setaffinity(0, {int(sys.argv[1])})\nwhile True:\n    pass\n"


def start_hog(core: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", HOG, str(core)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fake-engine", action="store_true")
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument(
        "--hog-core", type=int, default=None, help="core for the hog (default: the last one allowed)"
    )
    ap.add_argument(
        "--no-keep",
        action="store_true",
        help="render the whole person (View ▸ Keep the photo where the pose is unchanged, off)",
    )
    ap.add_argument("--json", type=Path)
    ap.add_argument("-v", "--verbose", action="store_true", help="log every thread-count decision")
    args = ap.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(relativeCreated)8.0f ms %(name)s: %(message)s")
    logging.getLogger("vunet_studio.threads").setLevel(logging.DEBUG if args.verbose else logging.INFO)
    logging.getLogger("vunet_studio.engine").setLevel(logging.INFO)
    isolate()
    from PySide6.QtCore import QEvent, QEventLoop, QPoint, Qt, QTimer

    from vunet_studio.gui.files import sample_photos
    from vunet_studio.skeleton import JOINT_INDEX

    app, window = open_window(args)

    window.load_engine()
    window.composite_view.act_keep.setChecked(not args.no_keep)
    window.files.add_photos(sample_photos()[:1])
    problem = wait_for_model(app, window)
    if problem:
        print(problem, file=sys.stderr)
        return 1
    if not wait_until(app, lambda: window.render_view.frames_shown > 0, 120):
        print("no first render", file=sys.stderr)
        return 1
    # The drags measure the steady state: the photo's empty scene made (the composite is
    # shown), not the seconds after opening while the scene worker still runs beside them.
    wait_until(app, window.canvas.composite_shown, 60)
    wait_until(app, lambda: False, 1.0)
    engine = window.render_service.worker._engine

    canvas = window.canvas
    vp = canvas.viewport()
    joint = JOINT_INDEX["rwrist"]
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton

    def send(kind: QEvent.Type, pos: QPoint, buttons, button) -> None:
        send_mouse(vp, kind, pos, buttons, button)

    def drag(sign: int) -> dict:
        latencies: list[float] = []
        state: dict = {"k": 0, "released": None, "final": None, "frames_during": 0}
        start = canvas.mapFromScene(canvas.joint_scene_pos(joint))

        def shown(_ms: float, lat: float) -> None:
            latencies.append(lat)
            if state["released"] is not None and state["final"] is None and window.render_service.caught_up():
                state["final"] = (time.perf_counter() - state["released"]) * 1e3
                loop.quit()

        window.editor.frameShown.connect(shown)
        loop = QEventLoop()
        mover = QTimer()
        mover.setTimerType(Qt.TimerType.PreciseTimer)
        mover.setInterval(round(1000 / args.hz))
        t0 = time.perf_counter()

        def move() -> None:
            state["k"] += 1
            k = state["k"]
            a = math.pi * k / args.moves  # half a circle: an arm swinging up (or back down)
            pos = start + QPoint(round(50 * math.sin(a)), round(sign * -50 * (1 - math.cos(a))))
            send(QEvent.Type.MouseMove, pos, left, none)
            if k >= args.moves:
                mover.stop()
                state["frames_during"] = len(latencies)
                state["drag_s"] = time.perf_counter() - t0
                state["released"] = time.perf_counter()
                send(QEvent.Type.MouseButtonRelease, pos, none, left)
                QTimer.singleShot(10000, loop.quit)

        send(QEvent.Type.MouseButtonPress, start, left, left)
        mover.timeout.connect(move)
        mover.start()
        loop.exec()
        window.editor.frameShown.disconnect(shown)
        return {
            "latency_ms_p50": round(percentile(latencies, 50), 1),
            "latency_ms_p95": round(percentile(latencies, 95), 1),
            "fps": round(state["frames_during"] / state["drag_s"], 1),
            "frames_shown": len(latencies),
            "release_to_final_ms": None if state["final"] is None else round(state["final"], 1),
            "threads_at_end": getattr(engine, "threads", None),
            "load_avg_1min": round(os.getloadavg()[0], 2),
        }

    core = args.hog_core if args.hog_core is not None else max(os.sched_getaffinity(0))
    results: dict[str, dict] = {}
    results["quiet"] = drag(+1)
    hog = start_hog(core)
    try:
        time.sleep(0.5)
        results["busy"] = drag(-1)
        tuner = getattr(engine, "_tuner", None)
        if tuner is not None:  # the engine as it was before it adapted: all cores, fixed
            engine._tuner, saved = None, tuner
            engine.threads = tuner.max_threads
            results["busy, fixed threads"] = drag(+1)
            engine._tuner = saved
            engine.threads = saved.threads
    finally:
        hog.kill()
        hog.wait()
    time.sleep(1.0)
    results["quiet again"] = drag(-1 if "busy, fixed threads" in results else +1)
    results["quiet again, 2nd drag"] = drag(+1 if "busy, fixed threads" in results else -1)
    window.doc.undo.setClean()
    window.close()

    keys = ["latency_ms_p50", "latency_ms_p95", "fps", "frames_shown", "release_to_final_ms", "threads_at_end",
            "load_avg_1min"]  # fmt: skip
    print(
        f"engine: {'fake' if args.fake_engine else 'real'}; {args.moves} moves at {args.hz:.0f} Hz; hog on core {core}"
    )
    print(f"{'':24s}" + "".join(f"{k:>22s}" for k in keys))
    for phase, r in results.items():
        print(f"{phase:24s}" + "".join(f"{r[k]!s:>22s}" for k in keys))
    if args.json:
        from vunet_studio.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
