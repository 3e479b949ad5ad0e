"""The training tools never lose what a user made, and bad input gets one clear line:
vunet-synth over a dataset, two vunet-train runs on one folder, an unreadable dataset, bad
options and index files, a full disk, TensorBoard across a resume."""

from __future__ import annotations

import errno
import logging
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from _training_helpers import TINY_MODEL_FLAGS, tiny_config

from training import data as data_module
from training.runlock import RunLock
from training.synth.cli import main as synth_main
from training.train import main as train_main
from vunet_studio import fileio
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_NAMES

REPO = Path(__file__).resolve().parents[1]
CONFIG = str(REPO / "training/configs/synth128.yaml")
TINY = [
    *TINY_MODEL_FLAGS,
    "--batch_size=2",
    "--init_batches=1",
    "--threads=1",
    "--loss.kind=pixel",
    "--amp=none",
    "--device=cpu",
    "--no-progress",
]


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The run's error lines; each must be one line without a traceback."""
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    for r in records:
        assert r.exc_info is None, r.getMessage()
        assert "\n" not in r.getMessage(), r.getMessage()
    return [r.getMessage() for r in records]


@pytest.fixture
def time_limit() -> Iterator[None]:
    """Turns a hang (the old endless loop) into a failure."""

    def expired(signum: int, frame: object) -> None:
        raise TimeoutError("still running after 120 s")

    old = signal.signal(signal.SIGALRM, expired)
    signal.alarm(120)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _index_file(folder: Path, n: int, payload: object | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    joints = np.stack([Pose.template(128, 128).to_normalized(128, 128)] * n).astype(np.float32)
    index = (
        payload
        if payload is not None
        else {
            "joint_order": list(JOINT_NAMES),
            "imgs": [f"images/{i}.png" for i in range(n)],  # none of them exists
            "train": [True] * n,
            "joints": joints,
        }
    )
    (folder / "index.p").write_bytes(pickle.dumps(index, protocol=2))
    return folder / "index.p"


# --- vunet-synth ----------------------------------------------------------------------
def test_synth_refuses_to_replace_a_dataset_unless_asked(tmp_path: Path, caplog) -> None:
    out = tmp_path / "ds"
    assert synth_main(["--out", str(out), "--count", "3", "--size", "64"]) == 0
    before = (out / "index.p").read_bytes()
    caplog.clear()
    assert synth_main(["--out", str(out), "--count", "2", "--size", "64", "--seed", "5"]) == 2
    (line,) = _errors(caplog)
    assert "--overwrite" in line
    assert str(out) in line
    assert (out / "index.p").read_bytes() == before
    assert synth_main(["--out", str(out), "--count", "2", "--size", "64", "--overwrite"]) == 0
    with open(out / "index.p", "rb") as f:
        assert len(pickle.load(f)["imgs"]) == 2


# --- the run folder's lock ---------------------------------------------------------------
def test_a_second_run_on_a_locked_folder_is_refused(tmp_path: Path, caplog) -> None:
    run = tmp_path / "run"
    with RunLock(run):  # as a first vunet-train holds it
        caplog.clear()
        assert train_main([CONFIG, "--out", str(run), "--steps=1", *TINY]) == 2
    (line,) = _errors(caplog)
    assert "in use" in line
    assert f"pid {os.getpid()}" in line
    assert not (run / "config.yaml").exists()  # nothing of the first run's was touched


@pytest.mark.slow
def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, caplog) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.lock").write_text(f"pid {dead.pid} on {os.uname().nodename}\n")
    caplog.set_level(logging.INFO)
    assert train_main([CONFIG, "--out", str(run), "--steps=1", *TINY]) == 0
    assert any("stale lock" in r.getMessage() and str(dead.pid) in r.getMessage() for r in caplog.records)
    assert (run / "model.safetensors").is_file()


# --- bad options and index files: one line each --------------------------------------------
def _not_a_mapping(tmp_path: Path) -> list[str]:
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- model\n- train\n")
    return [str(cfg), "--steps=1"]


def _refused_index(tmp_path: Path) -> list[str]:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    _index_file(tmp_path / "evil", 1, payload={"imgs": [], "joints": Evil()})
    return [CONFIG, "--data.kind=index", f"--data.path={tmp_path / 'evil'}"]


def _broken_index(tmp_path: Path) -> list[str]:
    path = _index_file(tmp_path / "broken", 4)
    path.write_bytes(path.read_bytes()[:40])  # cut short, as by a failed copy
    return [CONFIG, "--data.kind=index", f"--data.path={path}"]


@pytest.mark.parametrize(
    ("case", "args", "says"),
    [
        ("lr", lambda t: [CONFIG, "--schedule.lr=-1"], "schedule.lr"),
        ("nan lr", lambda t: [CONFIG, "--schedule.lr=.nan"], "schedule.lr"),
        ("device", lambda t: [CONFIG, "--train.device=gpu"], "train.device"),
        ("dataset path", lambda t: [CONFIG, "--data.kind=index", f"--data.path={t / 'nowhere'}"], "nowhere"),
        ("not a mapping", _not_a_mapping, "mapping"),
        ("refused index", _refused_index, "could run code"),
        ("broken index", _broken_index, "not a readable index"),
    ],
)
def test_bad_training_input_gets_one_clear_line(tmp_path: Path, caplog, case: str, args, says: str) -> None:
    argv = args(tmp_path)
    rc = train_main(["--out", str(tmp_path / "run"), "--steps=1", *TINY, *argv])  # argv's options win
    assert rc == 2, case
    (line,) = _errors(caplog)
    assert says in line, line
    assert not (tmp_path / "pwned").exists()  # a refused index.p ran nothing


def test_a_dataset_of_unreadable_images_stops_with_an_error(
    tmp_path: Path, caplog, monkeypatch, time_limit
) -> None:
    monkeypatch.setattr(data_module, "_unreadable_warnings", 0)
    _index_file(tmp_path / "ds", 600)
    argv = [CONFIG, "--data.kind=index", f"--data.path={tmp_path / 'ds'}", "--out", str(tmp_path / "run")]
    assert train_main([*argv, "--steps=5", *TINY]) == 2
    (line,) = _errors(caplog)
    assert "could not be read" in line
    assert str(tmp_path / "ds") in line
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "unreadable" in r.getMessage()]
    assert 0 < len(warnings) <= data_module.WARN_FIRST + 2  # ~1000 unreadable reads, a dozen lines


# --- a full disk ---------------------------------------------------------------------------
def _nearly_full(folder: object) -> SimpleNamespace:
    return SimpleNamespace(f_bavail=0, f_frsize=4096)


@pytest.mark.slow
def test_a_full_disk_while_training_says_so_and_keeps_the_earlier_files(
    tmp_path: Path, caplog, monkeypatch
) -> None:
    import torch

    import training.checkpoints
    import vunet_studio.model.checkpoint as model_checkpoint
    from training.export import main as export_main

    run = tmp_path / "run"
    assert train_main([CONFIG, "--out", str(run), "--steps=2", *TINY]) == 0
    kept = {
        p: p.read_bytes() for p in [run / "config.yaml", run / "model.safetensors", *run.glob("resume/*.pt")]
    }
    resume = ["--out", str(run), "--resume", "--steps=3", "--threads=1", "--no-progress"]

    def torch_save_on_a_full_disk(obj: object, f: object) -> None:
        raise RuntimeError(
            "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file"
        )

    def safetensors_on_a_full_disk(*args: object, **kwargs: object) -> None:
        raise Exception(
            'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "No space" })'
        )

    def fsync_on_a_full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    cases = [
        ("config.yaml", lambda m: m.setattr(fileio.os, "fsync", fsync_on_a_full_disk)),
        ("resume-00000003.pt", lambda m: (m.setattr(training.checkpoints.torch, "save", torch_save_on_a_full_disk),
                                          m.setattr(fileio.os, "statvfs", _nearly_full))),
        ("model.safetensors", lambda m: m.setattr(model_checkpoint, "save_file", safetensors_on_a_full_disk)),
    ]  # fmt: skip
    for name, break_disk in cases:
        before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file() and p.parent.name != "tb"}
        with monkeypatch.context() as m:
            break_disk(m)
            caplog.clear()
            assert train_main(resume) == 1, name
        (line,) = _errors(caplog)
        assert "disk is full" in line, line
        assert name in line, line
        # The file being written and the run's earlier weights and resume file are as they were.
        for p, content in before.items():
            if p.name in (name, "model.safetensors") or p.parent.name == "resume":
                assert p.read_bytes() == content, p
        assert not (run / "resume" / name).exists() or name != "resume-00000003.pt"
        assert kept[run / "model.safetensors"] == (run / "model.safetensors").read_bytes()

    # vunet-export onto an existing file.
    target = tmp_path / "export.safetensors"
    target.write_bytes(b"earlier export")
    with monkeypatch.context() as m:
        m.setattr(model_checkpoint, "save_file", safetensors_on_a_full_disk)
        caplog.clear()
        assert export_main([str(run), "-o", str(target)]) == 1
    (line,) = _errors(caplog)
    assert "disk is full" in line
    assert str(target) in line
    assert target.read_bytes() == b"earlier export"
    del torch


# --- TensorBoard across a resume -------------------------------------------------------------
@pytest.mark.slow
def test_tensorboard_keeps_the_scalar_of_the_resume_step(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from training.data import FixedSynthDataset
    from training.trainer import Trainer

    cfg = tiny_config(steps=12, log_every=3, image_every=0, max_steps_this_run=6)
    items = FixedSynthDataset(cfg.model.build(), 2, seed=3)
    Trainer(cfg, tmp_path, dataset=items).run()  # stops (and saves) at step 6
    Trainer(cfg, tmp_path, dataset=items, resume=True).run()  # 7 .. 12
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [s.step for s in events.Scalars("train/loss")] == [3, 6, 9, 12]
