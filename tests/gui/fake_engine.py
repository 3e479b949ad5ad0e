"""The test double for the render engine (re-exported: it lives in the app package so the
screenshot script and the benchmark can use it too)."""

from vunet_studio.gui.fake_engine import FakeEngine

__all__ = ["FakeEngine"]
