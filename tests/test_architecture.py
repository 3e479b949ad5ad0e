"""The three rings: a Qt-free core, the GUI, and the training tooling (see CONTEXT.md)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(ROOT))] = names
    return found


def test_core_never_imports_qt_or_training() -> None:
    for path, names in imported_modules("vunet_studio").items():
        if path.startswith("vunet_studio/gui/") or path == "vunet_studio/cli.py":
            continue  # the GUI itself, and the entry point that starts it
        bad = {
            n for n in names if n.split(".")[0] in ("PySide6", "training") or n.startswith("vunet_studio.gui")
        }
        assert not bad, f"{path} imports {bad}: the core must stay Qt-free and never use the training tooling"


def test_training_never_imports_the_gui() -> None:
    for path, names in imported_modules("training").items():
        bad = {n for n in names if n.split(".")[0] == "PySide6" or n.startswith("vunet_studio.gui")}
        assert not bad, f"{path} imports {bad}"


@pytest.mark.parametrize("module", ["vunet_studio.pose", "vunet_studio.pose_io", "vunet_studio.skeleton"])
def test_pose_modules_need_no_torch(module: str) -> None:
    code = f"import sys, {module}; sys.exit(1 if 'torch' in sys.modules or 'PySide6' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_the_model_is_the_network_only() -> None:
    """`vunet_studio.model` is the network, its config and checkpoints (torch): the inputs it
    takes from photos and poses are built in `vunet_studio.model_inputs`."""
    outside = (
        "cv2",
        "vunet_studio.pose",
        "vunet_studio.parts",
        "vunet_studio.stickman",
        "vunet_studio.model_inputs",
    )
    for path, names in imported_modules("vunet_studio/model").items():
        bad = {n for n in names if any(n == o or n.startswith(o + ".") for o in outside)}
        assert not bad, f"{path} imports {bad}"


def test_framing_needs_no_torch() -> None:
    code = "import sys, vunet_studio.framing; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
