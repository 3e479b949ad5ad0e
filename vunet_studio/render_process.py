"""The model in a process of its own: a `Renderer` whose renders run where the GUI's Python
cannot hold them up.

In one process the render thread and the GUI thread share one interpreter lock. The decode
is ~400 torch calls, and each must take the lock back from a GUI thread that holds it for a
mouse move or a repaint: on the 2-core machine a pose edit took 22 ms alone and 38 ms beside
a thread holding the lock 4 ms in every 16.7 (a mouse move's work at 60 Hz), against 25 ms
beside another *process* doing the same (`benchmarks/composite_latency.py` shows the drag).
Here the engine (`engine.RenderEngine`) lives in a spawned child; the render thread sends it
poses and gets renders back over a pipe (a few hundred microseconds a frame), waiting with
the lock released.

The child ends when the app closes the pipe (`close`) or dies: a read on a pipe whose other
end is gone ends it. Messages are pickled between the app's own two processes; no file a
user picked is ever unpickled.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from vunet_studio.pose import Pose
from vunet_studio.renderer import (
    Appearance,
    AppearanceImage,
    EngineError,
    ProgressFn,
    Render,
    appearance_images,
    appearance_key,
    mixed_key,
)

log = logging.getLogger(__name__)

#: How often the idle child lets the engine read the machine's load (`Renderer.watch_load`).
WATCH_LOAD_S = 0.25
#: Appearances the child keeps; the oldest is dropped there when the app's copy is.
CACHE_SIZE = 64


class ProcessRenderer:
    """`RenderEngine(checkpoint, device, progress)` in a child process (the `Renderer` protocol).

    Loading waits for the child's engine, forwarding its progress; an `EngineError` there is
    raised here with the same message."""

    def __init__(
        self, checkpoint: str | Path | None, device: str, progress: ProgressFn | None = None, **options: Any
    ) -> None:
        """`options`: more `RenderEngine` keywords (threads, warmup)."""
        ctx = multiprocessing.get_context("spawn")  # never fork a process that runs Qt threads
        self._conn, child = ctx.Pipe()
        self._lock = threading.Lock()
        #: The appearances the child holds, by key, oldest first (`Appearance.latents` is None here).
        self._appearances: OrderedDict[str, Appearance] = OrderedDict()
        self._proc = ctx.Process(
            target=serve,
            args=(child, None if checkpoint is None else str(checkpoint), device, options, _log_level()),
            daemon=True,
        )
        self._proc.start()
        child.close()
        while True:
            try:
                kind, *rest = self._conn.recv()
            except EOFError:
                self._proc.join(5)
                raise EngineError(
                    f"The model's process stopped while loading (exit code {self._proc.exitcode})."
                ) from None
            if kind == "progress":
                if progress is not None:
                    progress(*rest)
            elif kind == "ready":
                self.device, self.image_size = rest
                return
            else:
                self.close()
                raise EngineError(rest[0])

    def _call(self, *message: Any) -> Any:
        with self._lock:
            try:
                self._conn.send(message)
                kind, value = self._conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                raise EngineError(
                    "The model's process has stopped; load the model again in File ▸ Preferences."
                ) from None
        if kind == "error":
            raise EngineError(value)
        return value

    def _keep(self, key: str) -> Appearance:
        app = Appearance(None, key)  # a name for the child's copy
        self._appearances[key] = app
        self._appearances.move_to_end(key)
        while len(self._appearances) > CACHE_SIZE:
            old, _ = self._appearances.popitem(last=False)
            with self._lock:
                self._conn.send(("drop", old))
        return app

    # --- the Renderer protocol ------------------------------------------------------------
    def encode(self, appearance: AppearanceImage | Sequence[AppearanceImage]) -> Appearance:
        images = appearance_images(appearance)
        keys = [appearance_key(s) for s in images]
        key = mixed_key(keys)
        if key in self._appearances:  # the child has it: no pixels cross the pipe
            self._appearances.move_to_end(key)
            return self._appearances[key]
        named = [AppearanceImage(s.image, s.pose, k) for s, k in zip(images, keys, strict=True)]
        return self._keep(self._call("encode", named[0] if len(named) == 1 else named))

    def sample_appearance(self, pose: Pose, seed: int) -> Appearance:
        return self._keep(self._call("sample", pose, int(seed)))

    def render(
        self, appearance: Appearance, pose: Pose, box: tuple[float, float, float] | None = None
    ) -> Render:
        if appearance.key not in self._appearances:
            raise EngineError("This appearance was not made by this engine.")
        render: Render = self._call("render", appearance.key, pose, None if box is None else tuple(box))
        return render

    def watch_load(self) -> None:
        """The child watches the load itself whenever it waits for work."""

    def close(self) -> None:
        """End the child (it also ends by itself when this process does)."""
        try:
            with self._lock:
                self._conn.send(("stop",))
        except (OSError, BrokenPipeError):
            pass
        self._conn.close()
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.terminate()


def _log_level() -> int | None:
    """The app's logging level, for the child to log as it does (None: the app set none up)."""
    root = logging.getLogger()
    return root.getEffectiveLevel() if root.handlers else None


def serve(
    conn: Connection, checkpoint: str | None, device: str, options: dict[str, Any], log_level: int | None = None
) -> None:
    """The child: load the engine, then answer messages until told to stop or the pipe closes.
    It logs to the same stderr as the app, at the app's level (`log_level`)."""
    if log_level is not None:
        logging.basicConfig(level=log_level, format="%(levelname)s %(name)s [model process]: %(message)s")
    from vunet_studio.engine import RenderEngine

    try:
        # The app's own CPU time (its GUI thread, its compositing) is not another process's
        # load to the thread tuner: in one process it was counted as the engine's own.
        options = {"also_ours": (os.getppid(),), **options}
        engine = RenderEngine(checkpoint, device, lambda f, m: conn.send(("progress", float(f), m)), **options)
    except EngineError as e:
        conn.send(("error", str(e)))
        return
    except Exception as e:  # a broken checkpoint may raise anything; the user needs a message
        log.exception("engine failed to load")
        conn.send(("error", f"Could not load the model: {e}"))
        return
    conn.send(("ready", engine.device, engine.image_size))
    apps: dict[str, Any] = {}
    while True:
        try:
            if not conn.poll(WATCH_LOAD_S):
                engine.watch_load()
                continue
            op, *args = conn.recv()
        except (EOFError, OSError):
            return  # the app has gone
        if op == "stop":
            return
        if op == "drop":
            apps.pop(args[0], None)
            continue
        try:
            if op == "encode":
                app = engine.encode(args[0])
                apps[app.key] = app
                answer: Any = app.key
            elif op == "sample":
                app = engine.sample_appearance(*args)
                apps[app.key] = app
                answer = app.key
            elif op == "render":
                key, pose, box = args
                answer = engine.render(apps[key], pose, box)
            else:
                raise EngineError(f"unknown request {op!r}")
        except EngineError as e:
            conn.send(("error", str(e)))
            continue
        except Exception as e:
            log.exception("%s failed", op)
            conn.send(("error", f"The model failed: {e}"))
            continue
        conn.send(("ok", answer))
