"""Drag-to-pixels latency of the studio app, offscreen.

    python benchmarks/gui_latency.py [--checkpoint CKPT] [--device cpu] [--fake-engine] [--json OUT]

Measures, with the real engine (default model unless --checkpoint) or the fake one:
  * launch-to-visible: a fresh `python` process from spawn until the main window is exposed;
  * drag latency: a joint dragged with --moves mouse-move events at --hz; for every frame
    shown, the time from the mouse event that asked for it to the repainted render (p50/p95);
    superseded requests are never rendered (latest-request-only), so frames <= moves;
  * the longest GUI-thread stall during the drag: the largest gap between ticks of a 5 ms
    QTimer heartbeat, minus 5 ms.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from dev_studio import engine_factory, isolate, open_window, wait_for_model, wait_until  # noqa: E402


def child_visible(fake: bool) -> None:
    """Run in a fresh process: start the app as `main` does and report when it is visible."""
    isolate()
    from vunet_studio.gui.app import application, create_window, parse_args

    app = application()
    window = create_window(parse_args(["--no-samples"]), engine_factory(fake))
    window.show()
    while not (window.windowHandle() and window.windowHandle().isExposed()):
        app.processEvents()
    app.processEvents()
    print(f"VISIBLE {time.time():.6f}", flush=True)
    window.render_service.shutdown()
    window.finder.shutdown()


def launch_to_visible(fake: bool, runs: int = 3) -> list[float]:
    times = []
    for _ in range(runs):
        t0 = time.time()
        out = subprocess.run(
            [sys.executable, __file__, "--child-visible"] + (["--fake-engine"] if fake else []),
            capture_output=True, text=True, cwd=REPO, timeout=120,
        )  # fmt: skip
        line = next((x for x in out.stdout.splitlines() if x.startswith("VISIBLE")), None)
        if line is None:
            raise RuntimeError(f"the app did not start:\n{out.stderr[-2000:]}")
        times.append(float(line.split()[1]) - t0)
    return times


def send_mouse(viewport: Any, kind: Any, pos: Any, buttons: Any, button: Any) -> None:
    """A mouse event at `pos` (viewport pixels) sent to the canvas as the platform would."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    ev = QMouseEvent(
        kind,
        QPointF(pos),
        QPointF(viewport.mapToGlobal(pos)),
        button,
        buttons,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(viewport, ev)


class Heartbeat:
    """The GUI thread's longest stall: the largest gap between ticks of a 5 ms timer, - 5 ms."""

    def __init__(self) -> None:
        from PySide6.QtCore import QElapsedTimer, Qt, QTimer

        self._beat = QElapsedTimer()
        self._gaps: list[float] = []
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        self._gaps.append(self._beat.nsecsElapsed() / 1e6)
        self._beat.restart()

    def start(self) -> None:
        self._gaps.clear()
        self._beat.start()
        self._timer.start()

    def stop(self) -> float:
        """Stop; the longest stall in ms (the first gap, from start to the first tick, left out)."""
        self._timer.stop()
        return max(self._gaps[1:] or [0.0]) - 5.0


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


def drag_benchmark(args: argparse.Namespace) -> dict:
    isolate()
    from PySide6.QtCore import QEvent, QPoint, Qt, QTimer

    from vunet_studio.gui.files import sample_photos
    from vunet_studio.skeleton import JOINT_INDEX

    app, window = open_window(args)
    t_load = time.perf_counter()
    window.load_engine()
    window.files.add_photos(sample_photos()[:1])
    problem = wait_for_model(app, window)
    if problem:
        raise RuntimeError(problem)
    load_s = time.perf_counter() - t_load
    if not wait_until(app, lambda: window.render_view.frames_shown > 0, 120):
        raise RuntimeError("no first render")

    canvas = window.canvas
    latencies: list[float] = []
    render_ms: list[float] = []
    window.editor.frameShown.connect(lambda ms, lat: (render_ms.append(ms), latencies.append(lat)))

    vp = canvas.viewport()
    joint = JOINT_INDEX["rwrist"]
    start = canvas.mapFromScene(canvas.joint_scene_pos(joint))

    def send(kind: QEvent.Type, pos: QPoint, buttons, button) -> None:
        send_mouse(vp, kind, pos, buttons, button)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    heartbeat = Heartbeat()
    latencies.clear()
    render_ms.clear()
    send(QEvent.Type.MouseButtonPress, start, left, left)
    heartbeat.start()
    # Moves come from a timer inside the running event loop, as real input does (a busy
    # loop here would steal the CPU the render thread needs).
    import math

    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    state = {"k": 0, "pos": start, "frames_during": 0}
    t0 = time.perf_counter()
    mover = QTimer()
    mover.setTimerType(Qt.TimerType.PreciseTimer)
    mover.setInterval(round(1000 / args.hz))

    def move() -> None:
        state["k"] += 1
        k = state["k"]
        # Half a circle, as a user swinging an arm up (ends away from the start: one undo step).
        a = math.pi * k / args.moves
        state["pos"] = start + QPoint(round(60 * math.sin(a)), round(-60 * (1 - math.cos(a))))
        send(QEvent.Type.MouseMove, state["pos"], left, none)
        if k >= args.moves:
            mover.stop()
            state["frames_during"] = len(latencies)
            state["drag_s"] = time.perf_counter() - t0
            send(QEvent.Type.MouseButtonRelease, state["pos"], none, left)
            # Wait for the frame of the final pose, then stop.
            window.editor.frameShown.connect(lambda *_: loop.quit())
            QTimer.singleShot(10000, loop.quit)

    mover.timeout.connect(move)
    mover.start()
    loop.exec()
    frames_during = state["frames_during"]
    drag_s = state["drag_s"]
    stall = heartbeat.stop()
    window.doc.undo.setClean()
    result = {
        "engine": "fake"
        if args.fake_engine
        else f"real ({window.engine_label.text().removeprefix('Model: ')})",
        "moves": args.moves,
        "hz": args.hz,
        "drag_s": round(drag_s, 3),
        "frames_shown": len(latencies),
        "fps": round(frames_during / drag_s, 1),
        "latency_ms_p50": round(percentile(latencies, 50), 1),
        "latency_ms_p95": round(percentile(latencies, 95), 1),
        "render_ms_p50": round(percentile(render_ms, 50), 1),
        "gui_stall_ms_max": round(stall, 1),
        "model_load_s": round(load_s, 2),
        "undo_steps_for_drag": window.doc.undo.count() - 1,  # minus the "open photo" step
    }
    window.close()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--fake-engine", action="store_true", help="the stand-in engine (no model needed)")
    ap.add_argument("--moves", type=int, default=100)
    ap.add_argument("--hz", type=float, default=60.0)
    ap.add_argument("--launch-runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the results here")
    ap.add_argument("--child-visible", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child_visible:
        child_visible(args.fake_engine)
        return 0
    if not args.fake_engine and not args.checkpoint:
        from vunet_studio.engine import default_checkpoint

        if not default_checkpoint().exists():
            print(
                f"the default model {default_checkpoint()} is missing: pass --checkpoint or --fake-engine",
                file=sys.stderr,
            )
            return 2
    visible = launch_to_visible(args.fake_engine, args.launch_runs)
    result = drag_benchmark(args)
    result["launch_to_visible_s"] = [round(v, 2) for v in visible]
    for k, v in result.items():
        print(f"{k:22s} {v}")
    if args.json:
        sys.path.insert(0, str(REPO))
        from vunet_studio.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
