"""A long editing session in the studio app, offscreen: does it survive, and does memory stay flat?

    python benchmarks/endurance.py [--minutes 10] [--hz 200] [--checkpoint CKPT | --fake-engine]

Drives the real main window with real mouse events on the canvas: a joint dragged in
circles (gestures of --gesture moves, every other one a Shift-drag of the whole skeleton),
and between gestures undo, redo, mirror and a switch to the other photo; every
--export-every gestures the render is exported. Prints moves done, renders shown, RSS at
start/end/peak and the drift of sys.getrefcount(None) (a Qt binding that leaks None aborts
the process: `Fatal Python error: none_dealloc`). Progress is logged every --log-every seconds.

`tests/gui/test_endurance.py` runs the same session for 5 000 moves with a tiny model.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
log = logging.getLogger("endurance")


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB, from /proc (Linux)."""
    values: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = float(rest.split()[0]) / 1024
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return peak, peak
    return values.get("VmRSS", 0.0), values.get("VmHWM", 0.0)


@dataclass
class SessionResult:
    moves: int
    gestures: int
    renders_shown: int
    exports: int
    seconds: float
    rss_start_mb: float  # after the first gesture (model and caches warm)
    rss_end_mb: float
    rss_peak_mb: float  # the highest RSS sampled during the session
    none_refcount_drift: int  # end minus start; a leaky binding makes this hugely negative
    undo_steps: int


def run_session(
    window: Any,  # MainWindow
    *,
    moves: int | None = None,
    seconds: float | None = None,
    hz: float = 500.0,
    gesture: int = 250,
    export_every: int = 8,
    export_dir: Path,
    log_every: float = 30.0,
    on_progress: Callable[[dict[str, float]], None] | None = None,
) -> SessionResult:
    """Drag, undo/redo, mirror, switch photos and export on `window`, whose photos are open
    and whose model is ready, for `moves` mouse moves or `seconds` of wall time."""
    from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
    from PySide6.QtGui import QMouseEvent
    from PySide6.QtWidgets import QApplication

    from vunet_studio.skeleton import JOINT_INDEX

    if moves is None and seconds is None:
        raise ValueError("give moves or seconds")
    app = QApplication.instance()
    canvas, doc = window.canvas, window.doc
    vp = canvas.viewport()
    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    joint = JOINT_INDEX["rwrist"]

    def send(kind: QEvent.Type, pos: QPoint, buttons: Any, button: Any, mods: Any) -> None:
        QApplication.sendEvent(
            vp, QMouseEvent(kind, QPointF(pos), QPointF(vp.mapToGlobal(pos)), button, buttons, mods)
        )

    def between_gestures(g: int) -> None:
        window.act_undo.trigger()
        window.act_redo.trigger()
        if g % 3 == 0:
            window.act_mirror.trigger()
        if g % 2 == 0 and len(doc.photos) > 1:
            ids = [p.id for p in doc.photos]
            doc.set_current(ids[(ids.index(doc.ws.current) + 1) % len(ids)])
        app.processEvents()

    def render_shown(timeout: float = 30.0) -> bool:
        # After a photo switch the render view is empty until the new photo's render arrives.
        end = time.monotonic() + timeout
        while window.render_view.image() is None and time.monotonic() < end:
            app.processEvents()
            time.sleep(0.005)
        return window.render_view.image() is not None

    written: list[str] = []  # exports may finish in the render thread: count them when on disk
    window.files.exported.connect(written.append)
    asked = 0

    period = 1.0 / hz
    t0 = time.perf_counter()
    last_log = t0
    done = gestures = 0
    rss_start = peak = 0.0
    none_start = sys.getrefcount(None)
    frames_start = window.render_view.frames_shown
    while True:
        # One gesture: press on the joint, circle around, release (one undo step).
        mods = Qt.KeyboardModifier.ShiftModifier if gestures % 2 else Qt.KeyboardModifier.NoModifier
        start = canvas.mapFromScene(canvas.joint_scene_pos(joint))
        send(QEvent.Type.MouseButtonPress, start, left, left, mods)
        pos = start
        for k in range(1, gesture + 1):
            a = 2 * math.pi * k / gesture
            # A circle of 40 px that ends 30 px off the start, so every gesture is an edit.
            r = 40 * math.sin(a / 2)
            pos = start + QPoint(round(r * math.cos(a) + 30 * k / gesture), round(r * math.sin(a)))
            send(QEvent.Type.MouseMove, pos, left, none, mods)
            done += 1
            app.processEvents()  # deliver renders as they come, as the event loop would
            time.sleep(period)
        send(QEvent.Type.MouseButtonRelease, pos, none, left, mods)
        gestures += 1
        between_gestures(gestures)
        if (
            gestures % export_every == 0
            and render_shown()
            and window.files.export_render(export_dir / f"render_{gestures % 2}.png")
        ):
            asked += 1
        rss, _ = rss_mb()
        if gestures == 1:
            rss_start = rss
            none_start = sys.getrefcount(None)
        peak = max(peak, rss)
        now = time.perf_counter()
        if now - last_log >= log_every:
            last_log = now
            progress = {
                "elapsed_s": now - t0,
                "moves": done,
                "renders": window.render_view.frames_shown - frames_start,
                "rss_mb": rss,
                "none_drift": sys.getrefcount(None) - none_start,
            }
            log.info(
                "%.0f s: %d moves, %d renders shown, RSS %.0f MiB, refcount(None) drift %+d",
                *progress.values(),
            )
            if on_progress is not None:
                on_progress(progress)
        if (moves is not None and done >= moves) or (seconds is not None and now - t0 >= seconds):
            break
    if render_shown() and window.files.export_render(export_dir / "final.png"):
        asked += 1
    end = time.monotonic() + 60
    while len(written) < asked and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.005)
    exports = len(written)
    window.files.exported.disconnect(written.append)
    rss_end, _ = rss_mb()
    return SessionResult(
        moves=done,
        gestures=gestures,
        renders_shown=window.render_view.frames_shown - frames_start,
        exports=exports,
        seconds=round(time.perf_counter() - t0, 1),
        rss_start_mb=round(rss_start, 1),
        rss_end_mb=round(rss_end, 1),
        rss_peak_mb=round(max(peak, rss_end), 1),
        none_refcount_drift=sys.getrefcount(None) - none_start,
        undo_steps=doc.undo.count(),
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0, help="how long to drag (default 10)")
    ap.add_argument("--hz", type=float, default=200.0, help="mouse moves per second at most")
    ap.add_argument("--gesture", type=int, default=250, help="moves per drag")
    ap.add_argument("--checkpoint", help="model checkpoint (default: the bundled model)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--fake-engine", action="store_true", help="the stand-in engine (no model needed)")
    ap.add_argument("--log-every", type=float, default=30.0, help="seconds between progress lines")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    sys.path.insert(0, str(REPO / "scripts"))
    from dev_studio import isolate, open_window, wait_for_model, wait_until

    tmp = isolate("vunet-endurance-")
    from PySide6.QtWidgets import QApplication

    from vunet_studio.gui.files import sample_photos

    app, window = open_window(args)
    window.load_engine()
    window.files.add_photos(sample_photos()[:2])
    problem = wait_for_model(app, window)
    if problem:
        log.error("%s", problem)
        return 1
    if not wait_until(
        app,
        lambda: all(p.pose is not None for p in window.doc.photos) and window.render_view.frames_shown > 0,
        120,
    ):
        log.error("no first render")
        return 1
    log.info("model: %s; dragging for %.1f minutes", window.engine_label.text(), args.minutes)
    result = run_session(
        window,
        seconds=args.minutes * 60,
        hz=args.hz,
        gesture=args.gesture,
        export_dir=tmp,
        log_every=args.log_every,
    )
    window.doc.undo.setClean()
    window.close()
    QApplication.processEvents()
    out = {
        "engine": "fake" if args.fake_engine else window.engine_label.text().removeprefix("Model: "),
        **asdict(result),
    }
    for k, v in out.items():
        print(f"{k:22s} {v}")
    if args.json:
        from vunet_studio.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
