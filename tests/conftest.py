"""Fixtures shared by all tests (tests/gui/conftest.py adds the GUI's). Its being here also puts
tests/ on sys.path, so tests in subfolders import the `_*_helpers` modules directly."""

from __future__ import annotations

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
