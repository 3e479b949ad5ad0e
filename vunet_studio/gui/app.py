"""The studio's entry point: `main(argv)` builds the QApplication and the main window.

The window is shown before anything slow happens: the model loads in the render thread
and pose estimation in its own thread, so the first frame appears in well under 3 s.
"""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QSettings, QSocketNotifier, QTimer
from PySide6.QtWidgets import QApplication

from vunet_studio.gui import settings

if TYPE_CHECKING:
    from vunet_studio.renderer import RendererFactory

log = logging.getLogger(__name__)

ORG_NAME = "VUNetStudio"
APP_NAME = "VUNet Studio"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="vunet-studio",
        description="Re-pose people in photos.",
        epilog="Headless rendering without a window: vunet-studio render --help",
    )
    ap.add_argument("files", nargs="*", help="photos or a .vunet workspace to open")
    ap.add_argument("--checkpoint", help="model checkpoint (default: the bundled model or the preference)")
    ap.add_argument("--device", choices=settings.DEVICES, help="where the model runs")
    ap.add_argument("--no-samples", action="store_true", help="don't open the bundled samples on first start")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(list(argv))


def application(argv: Sequence[str] = ()) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "vunet-studio", *argv])
    assert isinstance(app, QApplication)  # this process only ever makes a widgets application
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    return app


def create_window(args: argparse.Namespace, engine_factory: RendererFactory | None = None):
    """The main window for `args`; `engine_factory` None is the real engine (dev tools such as
    scripts/dev_studio.py pass a stand-in)."""
    from vunet_studio.gui.main_window import MainWindow

    window = MainWindow(engine_factory=engine_factory)
    if args.checkpoint or args.device:
        # Command-line choices apply to this run only; preferences stay as saved.
        window.prefs.checkpoint = args.checkpoint or window.prefs.checkpoint
        window.prefs.device = args.device or window.prefs.device
    return window


def startup(window, args: argparse.Namespace) -> None:
    """After the window is up: the model, recovery, files from the command line, first-run samples."""
    # The model starts loading (in its thread) first: nothing a file named on the command line
    # does (a broken workspace, a message box waiting for the user) may hold it up.
    window.load_engine()
    recovered = window.files.offer_recovery()
    if not window.isVisible():
        return  # closed while the recovery question was open (SIGTERM): nothing more to start
    if args.files:
        paths = [Path(f) for f in args.files]
        if recovered:
            # Started again with the same files after a crash: the recovered work has them.
            open_now = {p.path.resolve() for p in window.doc.photos}
            if window.doc.path is not None:
                open_now.add(window.doc.path.resolve())
            paths = [p for p in paths if p.resolve() not in open_now]
        if paths:
            window.files.open_paths(paths)
    elif not recovered and not args.no_samples and not QSettings().value("state/started_before", False, bool):
        # First start ever: show something to play with. Later starts show the empty state
        # with its "Open samples" button.
        from vunet_studio.gui.files import sample_photos

        if sample_photos() and not window.doc.photos:
            window.files.add_photos(sample_photos())
            # Samples are a starting point, not the user's work: nothing to undo ("Undo Open
            # 5 photos" on a first start) and nothing unsaved.
            window.doc.undo.clear()
    QSettings().setValue("state/started_before", True)


def handle_termination(window, app: QApplication) -> QObject | None:
    """SIGTERM (logout, shutdown, `kill`) closes the window as a normal exit does, without
    prompts, instead of killing the process mid-write. Returns the notifier to keep alive.

    Python runs signal handlers only between bytecodes, never while Qt waits in C++; the
    wake-up fd makes the signal readable on a socket Qt watches, so the handler runs at once.
    """
    if not hasattr(signal, "SIGTERM") or sys.platform == "win32":
        return None
    reader, writer = socket.socketpair()
    for s in (reader, writer):
        s.setblocking(False)
    signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    notifier = QSocketNotifier(reader.fileno(), QSocketNotifier.Type.Read, app)
    notifier.activated.connect(lambda *_: reader.recv(64))  # the Python handler runs right after
    notifier._sockets = (reader, writer)  # type: ignore[attr-defined]  # closed with the notifier

    def on_term(signum: int, _frame: object) -> None:
        log.info("%s received", signal.Signals(signum).name)
        # Quit also when a dialog keeps another top-level window open.
        QTimer.singleShot(0, lambda: window.terminate() and app.quit())

    signal.signal(signal.SIGTERM, on_term)
    return notifier


def main(argv: Sequence[str] | None = None, engine_factory: RendererFactory | None = None) -> int:
    t0 = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    app = application()
    window = create_window(args, engine_factory)
    handle_termination(window, app)
    window.show()
    log.debug("window visible after %.2f s", time.perf_counter() - t0)
    QTimer.singleShot(0, lambda: startup(window, args))
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
