"""A user-picked path that is a FIFO, a folder or a device gets one clear error at once; it
used to block the reader (and the GUI thread) for ever. Each FIFO test runs under
`_fifo_helpers.unblock`, so a reader that regressed to blocking fails instead of hanging.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _fifo_helpers import GRACE_S, unblock

from vunet_studio.imageio import ImageLoadError, load_image
from vunet_studio.pose_io import PoseFileError, read_poses
from vunet_studio.workspace import WorkspaceError, load_workspace

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")


def refused_at_once(fifo: Path, load: Callable[[], object], error: type[Exception]) -> str:
    t0 = time.monotonic()
    with unblock(fifo), pytest.raises(error) as caught:
        load()
    assert time.monotonic() - t0 < GRACE_S, "the reader blocked on the FIFO"
    return str(caught.value)


def test_photo_that_is_a_fifo_is_refused(fifo) -> None:
    p = fifo("photo.png")
    message = refused_at_once(p, lambda: load_image(p), ImageLoadError)
    assert message == "photo.png: is a pipe (FIFO), not a regular file"


def test_pose_file_that_is_a_fifo_is_refused(fifo) -> None:
    p = fifo("pose.json")
    message = refused_at_once(p, lambda: read_poses(p), PoseFileError)
    assert message.endswith("pose.json: is a pipe (FIFO), not a regular file")


def test_workspace_that_is_a_fifo_is_refused(fifo) -> None:
    p = fifo("w.vunet")
    message = refused_at_once(p, lambda: load_workspace(p), WorkspaceError)
    assert message == "w.vunet: is a pipe (FIFO), not a regular file"


def test_a_link_to_a_fifo_is_refused_too(fifo, tmp_path: Path) -> None:
    target = fifo("real")
    link = tmp_path / "photo.jpg"
    link.symlink_to(target)
    message = refused_at_once(target, lambda: load_image(link), ImageLoadError)
    assert "pipe (FIFO)" in message


def test_folders_are_refused_by_every_reader(tmp_path: Path) -> None:
    for name, load, error in (
        ("photo.png", load_image, ImageLoadError),
        ("pose.json", read_poses, PoseFileError),
        ("w.vunet", load_workspace, WorkspaceError),
    ):
        folder = tmp_path / name
        folder.mkdir()
        with pytest.raises(error, match=f"{name}: is a folder, not a file"):
            load(folder)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_named_as_a_photo_is_refused(tmp_path: Path) -> None:
    # /dev/zero never ends: the old reader filled memory with it. Run in a child with a
    # timeout and a memory cap, so a regression fails instead of taking the machine down.
    link = tmp_path / "photo.png"
    link.symlink_to("/dev/zero")
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))\n"
        "from vunet_studio.imageio import ImageLoadError, load_image\n"
        "try:\n    load_image(sys.argv[1])\n"
        "except ImageLoadError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(link)], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "photo.png: is a device, not a regular file", done.stderr[-500:]
