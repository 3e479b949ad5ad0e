"""Checkpoints: round trips, fp16, wrappers, and every kind of bad file -> CheckpointError."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _training_helpers import tiny_model_config
from safetensors.torch import save_file

from vunet_studio.model import CheckpointError, VUNet, load_checkpoint, save_checkpoint
from vunet_studio.model.checkpoint import read_checkpoint_info

torch.set_num_threads(2)

CFG = tiny_model_config()


@pytest.fixture(scope="module")
def model() -> VUNet:
    torch.manual_seed(0)
    m = VUNet(CFG)
    g = torch.Generator().manual_seed(1)
    parts = torch.rand(2, 24, 64, 64, generator=g) * 2 - 1
    stick = torch.rand(2, 3, 128, 128, generator=g) * 2 - 1
    m.data_dependent_init([(parts, stick)])
    return m.eval()


def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    return torch.rand(1, 24, 64, 64, generator=g) * 2 - 1, torch.rand(1, 3, 128, 128, generator=g) * 2 - 1


def test_roundtrip_identical_output(model: VUNet, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "m.safetensors", step=1234, extra={"loss": "vgg19-l1"})
    loaded, info = load_checkpoint(path)
    assert info.step == 1234
    assert info.image_size == 128
    assert info.config == CFG
    assert info.extra == {"loss": "vgg19-l1"}
    assert info.stored_dtype == "float32"
    assert not loaded.training
    parts, stick = batch()
    with torch.no_grad():
        assert torch.equal(loaded.transfer(parts, stick), model.transfer(parts, stick))
    assert read_checkpoint_info(path).step == 1234
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the temporary was renamed, not left


def test_fp16_weights_load_as_fp32(model: VUNet, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "h.safetensors", dtype=torch.float16)
    full = save_checkpoint(model, tmp_path / "f.safetensors")
    assert path.stat().st_size < 0.6 * full.stat().st_size
    loaded, info = load_checkpoint(path)
    assert info.stored_dtype == "float16"
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    parts, stick = batch()
    with torch.no_grad():
        a, b = loaded.transfer(parts, stick), model.transfer(parts, stick)
    assert (a - b).abs().max() < 0.05 * b.abs().max()


def test_wrapped_model_saves_unwrapped_keys(model: VUNet, tmp_path: Path) -> None:
    class Wrapper(torch.nn.Module):  # stands in for DDP (`.module`) / torch.compile (`._orig_mod`)
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.module = inner

    path = save_checkpoint(Wrapper(model), tmp_path / "w.safetensors")
    loaded, _ = load_checkpoint(path)
    assert set(loaded.state_dict()) == set(model.state_dict())


def test_folded_model_refuses_to_save(model: VUNet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="weight-norm-folded"):
        save_checkpoint(model.folded_copy(), tmp_path / "x.safetensors")


def _expect_error(path: Path, fragment: str) -> None:
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert fragment in str(err.value).lower()


def test_missing_file(tmp_path: Path) -> None:
    _expect_error(tmp_path / "nope.safetensors", "not found")


def test_not_safetensors(tmp_path: Path) -> None:
    p = tmp_path / "junk.safetensors"
    p.write_bytes(b"this is not a checkpoint at all" * 10)
    _expect_error(p, "safetensors")
    q = tmp_path / "pickle.safetensors"
    torch.save({"a": torch.zeros(2)}, q)  # a torch pickle must be rejected, never unpickled
    _expect_error(q, "safetensors")


def test_truncated(model: VUNet, tmp_path: Path) -> None:
    path = save_checkpoint(model, tmp_path / "t.safetensors")
    data = path.read_bytes()
    for cut in (len(data) // 2, 20):
        p = tmp_path / f"cut{cut}.safetensors"
        p.write_bytes(data[:cut])
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(p)
        assert str(p) in str(err.value)


def test_foreign_safetensors(tmp_path: Path) -> None:
    p = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(p))
    _expect_error(p, "not a vunet studio checkpoint")
    q = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(3)}, str(q), metadata={"format": "pt"})
    _expect_error(q, "'pt'")


def _rewrite(
    src: Path, dst: Path, *, meta: dict[str, str] | None = None, drop: str | None = None, add: bool = False
) -> Path:
    from safetensors import safe_open

    with safe_open(str(src), framework="pt") as f:
        metadata = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    metadata.update(meta or {})
    if drop:
        del tensors[drop]
    if add:
        tensors["extra.weight"] = torch.zeros(1)
    save_file(tensors, str(dst), metadata=metadata)
    return dst


def test_config_and_tensor_mismatch(model: VUNet, tmp_path: Path) -> None:
    src = save_checkpoint(model, tmp_path / "ok.safetensors")
    other = json.dumps(tiny_model_config(max_channels=32).to_dict())
    _expect_error(_rewrite(src, tmp_path / "cfg.safetensors", meta={"config": other}), "do not match")
    _expect_error(_rewrite(src, tmp_path / "badcfg.safetensors", meta={"config": "{not json"}), "config")
    _expect_error(_rewrite(src, tmp_path / "miss.safetensors", drop="head.v"), "missing")
    _expect_error(_rewrite(src, tmp_path / "extra.safetensors", add=True), "unexpected")


def test_joint_order_mismatch(model: VUNet, tmp_path: Path) -> None:
    src = save_checkpoint(model, tmp_path / "ok.safetensors")
    coco17 = json.dumps(["nose", "left_eye", "right_eye"])
    _expect_error(_rewrite(src, tmp_path / "jo.safetensors", meta={"joint_order": coco17}), "joint order")


def test_checkpoints_on_disk_keep_opening(model: VUNet, tmp_path: Path) -> None:
    # Users' checkpoints and the bundled models say "vunet-studio/vunet" in their header: what
    # is written and what is accepted must stay that string, and nothing else may pass for it.
    from safetensors import safe_open

    path = save_checkpoint(model, tmp_path / "m.safetensors")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "vunet-studio/vunet"
    assert meta["format_version"] == "1"
    older = _rewrite(path, tmp_path / "old.safetensors", meta={"format": "vunet-studio/vunet"})
    assert load_checkpoint(older)[1].step == 0
    _expect_error(_rewrite(path, tmp_path / "near.safetensors", meta={"format": "vunet-studio/vunet2"}), "vunet2")
    _expect_error(_rewrite(path, tmp_path / "newer.safetensors", meta={"format_version": "99"}), "newer")


def test_a_saved_checkpoint_has_the_usual_permissions(tmp_path) -> None:
    # safetensors writes its own file in place of the temporary one (mode 0600): a checkpoint a
    # user shares or ships must be readable by others, like any file they save.
    import os

    path = save_checkpoint(VUNet(CFG), tmp_path / "m.safetensors")
    mask = os.umask(0o022)
    os.umask(mask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~mask
