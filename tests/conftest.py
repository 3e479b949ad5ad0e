"""Fixtures shared by all tests (tests/gui/conftest.py adds the GUI's). Its being here also puts
tests/ on sys.path, so tests in subfolders import the `_*_helpers` modules directly."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def fifo(tmp_path: Path) -> Callable[[str], Path]:
    """Makes a FIFO called `name` in tmp_path (POSIX only: skip the test where there is no mkfifo)."""

    def make(name: str) -> Path:
        path = tmp_path / name
        os.mkfifo(path)
        return path

    return make


@pytest.fixture
def fake_engine_class(monkeypatch: pytest.MonkeyPatch) -> type:
    """The GUI tests' stand-in engine (tests/gui/fake_engine.py), imported as tests/gui/conftest.py does."""
    monkeypatch.syspath_prepend(str(Path(__file__).parent / "gui"))
    return importlib.import_module("fake_engine").FakeEngine
