"""The studio for development: the app as `vunet-studio` starts it, with the real model or the
tests' stand-in engine (`tests/gui/fake_engine.py`), which the shipped app does not carry.

    python scripts/dev_studio.py [--fake-engine] [vunet-studio options and files]

starts the app (with --fake-engine: UI work and demos without a model). The screenshot script
and the GUI benchmarks drive a window with `isolate`, `open_window`, `wait_until` and
`wait_for_model`: offscreen, with throwaway settings, so the user's preferences stay untouched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def engine_factory(fake: bool) -> Callable[..., Any] | None:
    """The stand-in engine's factory with `fake`, else None (the app's real engine)."""
    if not fake:
        return None
    sys.path.insert(0, str(REPO / "tests" / "gui"))
    from fake_engine import FakeEngine

    return FakeEngine


def isolate(prefix: str = "vunet-dev-") -> Path:
    """Offscreen Qt, and settings and app data in a new temporary folder (returned); call it
    before the window is made."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.environ["VUNET_STUDIO_DATA_DIR"] = tmp
    from PySide6.QtCore import QSettings

    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, tmp)
    return Path(tmp)


def open_window(args: argparse.Namespace, size: tuple[int, int] = (1440, 900)) -> tuple[Any, Any]:
    """(app, window): the studio as `main` starts it, shown at `size`, with `args.checkpoint`,
    and `args.device` and `args.fake_engine` where the script has them; call `isolate` first."""
    from vunet_studio.gui.app import application, create_window, parse_args

    app = application()
    cli = ["--no-samples"]
    cli += ["--device", args.device] if getattr(args, "device", None) else []
    cli += ["--checkpoint", args.checkpoint] if args.checkpoint else []
    window = create_window(parse_args(cli), engine_factory(getattr(args, "fake_engine", False)))
    window.resize(*size)
    window.show()
    return app, window


def wait_until(app: Any, cond: Callable[[], object], timeout: float) -> bool:
    """Run the event loop until `cond()` holds or `timeout` seconds pass; whether it holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and not cond():
        app.processEvents()
        time.sleep(0.002)
    return bool(cond())


def wait_for_model(app: Any, window: Any, timeout: float = 600) -> str:
    """Wait until the window's model has loaded (`window.load_engine()` called): "" when it
    has, else why not."""
    service = window.render_service
    if not wait_until(app, lambda: service.ready or bool(service.last_error), timeout):
        return f"the model did not load in {timeout:.0f} s"
    return "" if service.ready else f"the model failed to load: {service.last_error}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--fake-engine", action="store_true")
    ours, rest = ap.parse_known_args(sys.argv[1:] if argv is None else argv)
    from vunet_studio.gui.app import main as app_main

    return app_main(rest, engine_factory(ours.fake_engine))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main())
