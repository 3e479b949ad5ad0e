"""The studio's entry point: `main(argv)` builds the QApplication and the main window.

The window is shown before anything slow happens: the model loads in the render thread
and pose estimation in its own thread, so the first frame appears in well under 3 s.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication

from vunet_studio.gui import settings

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
    ap.add_argument(
        "--fake-engine", action="store_true", help="a stand-in engine (demos, UI work without a model)"
    )
    ap.add_argument("--no-samples", action="store_true", help="don't open the bundled samples on first start")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(list(argv))


def application(argv: Sequence[str] = ()) -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication([sys.argv[0] if sys.argv else "vunet-studio", *argv])
    app.setOrganizationName(ORG_NAME)
    app.setApplicationName(APP_NAME)
    app.setApplicationDisplayName(APP_NAME)
    return app  # type: ignore[return-value]


def create_window(args: argparse.Namespace):  # noqa: ANN201 - MainWindow, imported late
    from vunet_studio.gui.main_window import MainWindow

    factory = None
    if args.fake_engine:

        def factory(checkpoint, device, progress):  # noqa: ANN001, ANN202 - in the render thread
            from vunet_studio.gui.fake_engine import FakeEngine

            return FakeEngine(checkpoint, device, progress)

    window = MainWindow(engine_factory=factory)
    if args.checkpoint or args.device:
        # Command-line choices apply to this run only; preferences stay as saved.
        window.prefs.checkpoint = args.checkpoint or window.prefs.checkpoint
        window.prefs.device = args.device or window.prefs.device
    return window


def startup(window, args: argparse.Namespace) -> None:  # noqa: ANN001
    """After the window is up: recovery, files from the command line, first-run samples, model."""
    recovered = window.files.offer_recovery()
    if args.files:
        window.files.open_paths([Path(f) for f in args.files])
    elif not recovered and not args.no_samples and not QSettings().value("state/started_before", False, bool):
        # First start ever: show something to play with. Later starts show the empty state
        # with its "Open samples" button.
        from vunet_studio.gui.files import sample_photos

        if sample_photos() and not window.doc.photos:
            window.files.add_photos(sample_photos())
            window.doc.undo.setClean()  # samples are a starting point, not the user's work
    QSettings().setValue("state/started_before", True)
    window.load_engine()


def main(argv: Sequence[str] | None = None) -> int:
    t0 = time.perf_counter()
    args = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    app = application()
    window = create_window(args)
    window.show()
    log.debug("window visible after %.2f s", time.perf_counter() - t0)
    QTimer.singleShot(0, lambda: startup(window, args))
    return int(app.exec())


if __name__ == "__main__":
    raise SystemExit(main())
