"""The three rings (a Qt-free core, the GUI, the training tooling) and the layers inside the
core: a model that knows only tensors, torch-free poses, one engine interface (see CONTEXT.md)."""

import ast
import inspect
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

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


def test_the_gui_names_the_model_only_in_its_default_factory() -> None:
    # Everything else in the app holds a `renderer.Renderer`, so the stand-in engine can replace it.
    for path in (ROOT / "vunet_studio/gui").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        users = {
            getattr(node, "name", "<module>")
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Module)
            for sub in ast.walk(node)
            if (isinstance(sub, ast.Name) and sub.id == "RenderEngine")
            or (isinstance(sub, ast.alias) and sub.name == "RenderEngine")
        }
        if rel == "vunet_studio/gui/render_worker.py":
            assert users <= {"<module>", "default_engine_factory"}, f"{rel}: RenderEngine in {users}"
        else:
            assert not users, f"{rel} names RenderEngine in {users}: use vunet_studio.renderer.Renderer"


def _hints(fn: Any) -> dict[str, Any]:
    import vunet_studio.engine as engine_module

    # renderer.py imports its annotation types only for type checkers: resolve them here.
    return typing.get_type_hints(fn, localns=vars(engine_module))


def _compatible(want: Any, have: Any, what: str, *, returns: bool = True) -> None:
    """`have` can be called wherever `want` is: same parameters in the same order, with the
    same kinds, types and optionality; anything extra is optional; the same return type."""
    w, h = inspect.signature(want), inspect.signature(have)
    wp = [p for p in w.parameters.values() if p.name != "self"]
    hp = [p for p in h.parameters.values() if p.name != "self"]
    assert len(hp) >= len(wp), f"{what}: {h} takes fewer parameters than {w}"
    wh, hh = _hints(want), _hints(have)
    for a, b in zip(wp, hp, strict=False):
        if a.kind is not inspect.Parameter.POSITIONAL_ONLY:
            assert (a.name, a.kind) == (b.name, b.kind), f"{what}: parameter {b} where {w} has {a}"
        else:
            assert b.kind is not inspect.Parameter.KEYWORD_ONLY, f"{what}: {b} must be positional"
        if a.default is not inspect.Parameter.empty:
            assert b.default == a.default, f"{what}: {b} should default to {a.default!r}"
        if a.name in wh and a.kind is not inspect.Parameter.POSITIONAL_ONLY:
            assert hh.get(b.name) == wh[a.name], f"{what}: {b.name} is {hh.get(b.name)}, not {wh[a.name]}"
    for extra in hp[len(wp) :]:
        assert extra.default is not inspect.Parameter.empty or extra.kind in (
            inspect.Parameter.VAR_POSITIONAL,
            inspect.Parameter.VAR_KEYWORD,
        ), f"{what}: extra parameter {extra} needs a default"
    if returns:
        assert hh["return"] == wh["return"], f"{what}: returns {hh['return']}, not {wh['return']}"


@pytest.mark.parametrize("name", ["RenderEngine", "ProcessRenderer", "FakeEngine"])
def test_every_engine_implements_the_renderer_interface(name: str, fake_engine_class: type, tmp_path: Path) -> None:
    from vunet_studio.engine import RenderEngine
    from vunet_studio.render_process import ProcessRenderer
    from vunet_studio.renderer import Renderer, RendererFactory

    cls = {"RenderEngine": RenderEngine, "ProcessRenderer": ProcessRenderer}.get(name, fake_engine_class)
    methods = [m for m, v in vars(Renderer).items() if inspect.isfunction(v) and not m.startswith("_")]
    assert methods == ["encode", "sample_appearance", "render", "watch_load"]
    for method in methods:
        _compatible(getattr(Renderer, method), getattr(cls, method), f"{name}.{method}")
    # The app builds either with a RendererFactory's (checkpoint, device, progress).
    _compatible(RendererFactory.__call__, cls.__init__, f"{name}()", returns=False)
    # Attributes are set per instance.
    if name == "RenderEngine":
        from _training_helpers import tiny_model_config

        from vunet_studio.model import VUNet

        engine = cls(model=VUNet(tiny_model_config()), device="cpu", precision="fp32", warmup=False)
    elif name == "ProcessRenderer":
        from _training_helpers import tiny_model_config

        from vunet_studio.model import VUNet, save_checkpoint

        engine = cls(save_checkpoint(VUNet(tiny_model_config()), tmp_path / "tiny.safetensors"), "cpu", None, warmup=False)
    else:
        engine = cls(None, "cpu", None)
    for attr, kind in typing.get_type_hints(Renderer).items():
        assert isinstance(getattr(engine, attr, None), kind), f"{name}().{attr} is not a {kind.__name__}"
    if name == "ProcessRenderer":
        engine.close()
