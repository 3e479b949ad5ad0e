"""The Qt binding must not leak references to None.

PySide6/shiboken6 6.12.0 on Python 3.11 drops one reference to None on every Qt call that
returns nothing; a drag costs ~130 such calls per mouse move, and the process aborts
(`Fatal Python error: none_dealloc`) after seconds of dragging. pyproject.toml pins a
binding that does not leak; this test keeps that pin honest: an upgrade that brings the
leak back fails here instead of in users' hands.
"""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QComboBox, QLabel, QProgressBar, QWidget

CALLS = 5000  # per kind; the leaky binding loses ~1 reference each, so >= 15 000 in all
NOISE = 50  # None is shared by the whole interpreter; other threads may hold a few briefly


def test_void_qt_calls_keep_none_refcount(qtbot) -> None:  # noqa: ANN001
    parent = QWidget()
    qtbot.addWidget(parent)
    label, combo, bar = QLabel(parent), QComboBox(parent), QProgressBar(parent)
    bar.setRange(0, CALLS)
    # Warm up: first calls create method wrappers and caches that hold None legitimately.
    for k in range(50):
        label.setText(str(k))
        combo.addItem(str(k))
        bar.setValue(k)
        label.update()
    combo.clear()

    before = sys.getrefcount(None)
    for k in range(CALLS):
        label.setText("frame %d" % k)  # void
        combo.addItem("x")  # void
        bar.setValue(k)  # void
        label.update()  # void
    after = sys.getrefcount(None)
    combo.clear()

    # 20 000 void calls: a leaky binding loses ~20 000 (and goes on until None is freed).
    assert after >= before - NOISE, (
        f"sys.getrefcount(None) fell by {before - after} over {4 * CALLS} Qt calls that return "
        "nothing: this Qt binding leaks references to None and will crash long sessions; "
        "keep the PySide6/shiboken6 pin in pyproject.toml"
    )
