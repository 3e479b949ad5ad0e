"""Resume files: everything needed to continue a run exactly, as a plain dict of tensors and
plain types (loadable with `torch.load(weights_only=True)`; no pickled modules or classes).

Layout: RUN_DIR/resume/resume-<step:08d>.pt, written atomically; the newest `keep_last` are kept.
"""

from __future__ import annotations

import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vunet_studio.fileio import atomic_write_with

logger = logging.getLogger(__name__)

RESUME_FORMAT = "vunet-studio/resume"
RESUME_VERSION = 1
_NAME = re.compile(r"^resume-(\d{8,})\.pt$")


class ResumeError(Exception):
    """A resume file that cannot be used; the message names the file and the problem."""


def resume_dir(run_dir: Path) -> Path:
    return Path(run_dir) / "resume"


def resume_files(run_dir: Path) -> list[Path]:
    """The run's resume files, oldest first (by step)."""
    d = resume_dir(run_dir)
    if not d.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in d.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_resume_file(run_dir: Path) -> Path | None:
    files = resume_files(run_dir)
    return files[-1] if files else None


def rng_state() -> dict[str, Any]:
    """torch (CPU and CUDA), numpy and Python RNG states as tensors and plain types."""
    np_state = np.random.get_state()
    assert isinstance(np_state, tuple)  # legacy=True: the global MT19937 state as a tuple
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "python_version": int(py_state[0]),
        "python_state": torch.tensor(py_state[1], dtype=torch.int64),
        "python_gauss": py_state[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(
        (
            "MT19937",
            state["numpy_keys"].numpy().astype(np.uint32),
            state["numpy_pos"],
            state["numpy_has_gauss"],
            state["numpy_gauss"],
        )
    )
    random.setstate(
        (state["python_version"], tuple(int(v) for v in state["python_state"]), state["python_gauss"])
    )
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_resume(run_dir: Path, state: dict[str, Any], step: int, keep_last: int) -> Path:
    """Write `state` atomically as resume-<step>.pt and prune to the newest `keep_last`."""
    path = resume_dir(run_dir) / f"resume-{step:08d}.pt"
    payload = {"format": RESUME_FORMAT, "version": RESUME_VERSION, "step": int(step), **state}
    atomic_write_with(path, lambda tmp: torch.save(payload, tmp))
    for old in resume_files(run_dir)[: -max(keep_last, 1)]:
        try:
            old.unlink()
        except OSError as exc:  # a file another process holds open is not worth failing a run for
            logger.warning("could not remove old resume file %s: %s", old, exc)
    return path


def load_resume(path: str | os.PathLike[str]) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ResumeError(f"{p}: file not found")
    try:
        state = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt/truncated/unsafe files
        raise ResumeError(f"{p}: not a readable resume file ({exc})") from exc
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise ResumeError(f"{p}: not a VUNet Studio resume file")
    if int(state.get("version", 0)) > RESUME_VERSION:
        raise ResumeError(f"{p}: resume format {state['version']} is newer than this program reads")
    for key in ("model", "optimizer", "step", "model_config"):
        if key not in state:
            raise ResumeError(f"{p}: missing {key!r}")
    return state
