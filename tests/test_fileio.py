"""Atomic writes: a full disk says so in one line and keeps the earlier file; leftovers of
interrupted writes are cleaned up; long legal names work."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from vunet_studio import fileio
from vunet_studio.fileio import DiskFullError, atomic_write_text, atomic_write_with


def _no_space(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _nearly_full(folder: str | os.PathLike[str]) -> SimpleNamespace:
    return SimpleNamespace(f_bavail=3, f_frsize=4096)


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_keeps_the_earlier_file_and_says_so(tmp_path: Path, monkeypatch, code: int) -> None:
    target = tmp_path / "workspace.vunet"
    atomic_write_text(target, "the user's work")

    def full(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fileio.os, "fsync", full)
    with pytest.raises(DiskFullError) as info:
        atomic_write_text(target, "new")
    message = str(info.value)
    assert "disk is full" in message
    assert str(tmp_path) in message
    assert "\n" not in message
    assert isinstance(info.value, OSError)
    assert "full" in (info.value.strerror or "")
    assert target.read_text() == "the user's work"
    assert _only(tmp_path) == ["workspace.vunet"]  # no temporary file left behind


def test_a_library_error_on_a_full_disk_becomes_a_disk_full_error(tmp_path: Path, monkeypatch) -> None:
    """torch.save only says "file write failed"; with no space left in the folder it is a full disk."""
    target = tmp_path / "resume-00000010.pt"
    target.write_bytes(b"earlier resume file")
    monkeypatch.setattr(fileio.os, "statvfs", _nearly_full)

    def torch_like(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError(
            "[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file"
        )

    with pytest.raises(DiskFullError, match="disk is full"):
        atomic_write_with(target, torch_like)
    assert target.read_bytes() == b"earlier resume file"
    assert _only(tmp_path) == ["resume-00000010.pt"]

    # safetensors words it as Rust's StorageFull, whatever the free space says.
    monkeypatch.undo()
    with pytest.raises(DiskFullError):
        atomic_write_with(
            target,
            lambda tmp: (_ for _ in ()).throw(Exception("IoError(Os { code: 28, kind: StorageFull })")),
        )
    # Other errors stay what they are.
    with pytest.raises(ValueError, match="bad value"):
        atomic_write_with(target, lambda tmp: (_ for _ in ()).throw(ValueError("bad value")))
    assert target.read_bytes() == b"earlier resume file"


def test_gui_export_of_a_render_on_a_full_disk_gives_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    from vunet_studio.exports import ExportError, write_animation, write_image

    target = tmp_path / "render.png"
    target.write_bytes(b"earlier export")
    monkeypatch.setattr(Image.Image, "save", _no_space)
    with pytest.raises(ExportError) as info:
        write_image(target, np.zeros((8, 8, 3), np.uint8))
    assert "full" in str(info.value)
    assert str(tmp_path) in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(ExportError, match="full"):
        write_animation(tmp_path / "a.gif", [np.zeros((8, 8, 3), np.uint8)] * 2, 10.0)
    assert target.read_bytes() == b"earlier export"


def test_leftover_temporary_files_of_the_target_are_removed_on_the_next_write(tmp_path: Path) -> None:
    target = tmp_path / "pose.json"
    old = time.time() - 3600
    leftover = tmp_path / ".pose.k2j4x9_a.tmp.json"  # what an interrupted write of pose.json leaves
    others = [
        tmp_path / ".pose.abcdefgh.tmp.png",  # another target's (other suffix)
        tmp_path / ".poses.abcdefgh.tmp.json",  # another target's (other stem)
        tmp_path / ".pose.notours.json",  # not our pattern
        tmp_path / "notes.txt",
    ]
    for p in [leftover, *others]:
        p.write_text("x")
        os.utime(p, (old, old))
    in_progress = tmp_path / ".pose.zzzzzzzz.tmp.json"  # newer than this process: maybe being written
    in_progress.write_text("x")
    atomic_write_text(target, "{}")
    assert not leftover.exists()
    assert all(p.exists() for p in others)
    assert in_progress.exists()
    assert target.read_text() == "{}"


def test_a_long_legal_file_name_can_be_written(tmp_path: Path) -> None:
    target = tmp_path / ("p" * 246 + ".png")  # 250 bytes: legal, but not with ".", 8 random and ".tmp"
    atomic_write_with(target, lambda tmp: tmp.write_bytes(b"png"))
    assert target.read_bytes() == b"png"
    assert _only(tmp_path) == [target.name]


def test_gui_mp4_export_on_a_full_disk_says_so_instead_of_switching_codec(
    tmp_path: Path, monkeypatch
) -> None:
    from vunet_studio import exports as export

    def ffmpeg_on_a_full_disk(path: Path, frames: list[np.ndarray], fps: float) -> None:
        path.write_bytes(b"part of a video")
        try:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        except OSError as e:  # as _write_h264 wraps ffmpeg's failures
            raise export._NoH264("ffmpeg: Broken pipe") from e

    monkeypatch.setattr(export, "_write_h264", ffmpeg_on_a_full_disk)
    target = tmp_path / "walk.mp4"
    target.write_bytes(b"earlier video")
    with pytest.raises(export.ExportError, match="full"):
        export.write_animation(target, [np.zeros((8, 8, 3), np.uint8)] * 2, 10.0)
    assert target.read_bytes() == b"earlier video"
