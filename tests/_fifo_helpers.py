"""FIFOs for the tests that check a user-picked FIFO is refused at once instead of blocking.

Each such test runs its reader under `unblock`, which keeps opening the FIFO for writing after
a grace period: a reader that regressed to blocking gets EOF and the test fails instead of
hanging.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

GRACE_S = 3.0  # far longer than a refusal takes (microseconds); short enough to fail fast


@contextlib.contextmanager
def unblock(fifo: Path, after_s: float = GRACE_S) -> Iterator[None]:
    """Run the block; if it is still running after `after_s`, feed `fifo` EOFs until it ends."""
    stop = threading.Event()

    def writer() -> None:
        if stop.wait(after_s):
            return
        while not stop.is_set():
            with contextlib.suppress(OSError):  # ENXIO: nobody is reading right now
                os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            time.sleep(0.02)

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
