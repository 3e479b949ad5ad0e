"""Sharded checkpoints: any shard loads the whole model; a set cut off mid-write is refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _training_helpers import tiny_model_config
from safetensors import safe_open
from safetensors.torch import save_file

from vunet_studio.model import (
    CheckpointError,
    VUNet,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
    save_checkpoint_shards,
    shard_count,
)

CFG = tiny_model_config(alpha=True)
CAP = 300_000  # bytes: the tiny model's 0.73 MB of fp16 weights take 3 files


@pytest.fixture(scope="module")
def model() -> VUNet:
    torch.manual_seed(0)
    return VUNet(CFG).eval()


def test_shards_within_cap_and_any_shard_loads_the_model(model: VUNet, tmp_path: Path) -> None:
    files = save_checkpoint_shards(
        model, tmp_path, "m", max_file_bytes=CAP, step=42, extra={"k": 1}, dtype=torch.float16
    )
    assert len(files) == shard_count(model, max_file_bytes=CAP, dtype=torch.float16) == 3
    assert [p.name for p in files] == ["m-1of3.safetensors", "m-2of3.safetensors", "m-3of3.safetensors"]
    assert all(p.stat().st_size <= CAP for p in files)
    whole, _ = load_checkpoint(save_checkpoint(model, tmp_path / "whole.safetensors", dtype=torch.float16))
    for p in files:
        loaded, info = load_checkpoint(p)
        assert info.step == 42
        assert info.config == CFG
        assert info.extra == {"k": 1}
        assert read_checkpoint_info(p).config == CFG
        for k, v in whole.state_dict().items():
            assert torch.equal(loaded.state_dict()[k], v), k


def test_one_file_when_the_model_fits(model: VUNet, tmp_path: Path) -> None:
    (path,) = save_checkpoint_shards(model, tmp_path, "m", max_file_bytes=16 << 20, dtype=torch.float16)
    assert path.name == "m.safetensors"
    with safe_open(str(path), framework="pt") as f:
        assert "shard" not in f.metadata()  # an ordinary checkpoint, loadable by any version
    load_checkpoint(path)


def test_missing_or_foreign_shard_is_refused(model: VUNet, tmp_path: Path) -> None:
    a = save_checkpoint_shards(model, tmp_path / "a", "m", max_file_bytes=CAP, dtype=torch.float16)
    b = save_checkpoint_shards(model, tmp_path / "b", "m", max_file_bytes=CAP, dtype=torch.float16)
    # A write cut off after its first file: that file's set mixes with the earlier save's.
    b[1].replace(a[1])
    with pytest.raises(CheckpointError, match="another save"):
        load_checkpoint(a[0])
    with pytest.raises(CheckpointError, match=r"m-2of3.safetensors of this checkpoint is missing"):
        load_checkpoint(b[0])


def test_shard_names_cannot_leave_the_folder(model: VUNet, tmp_path: Path) -> None:
    files = save_checkpoint_shards(model, tmp_path, "m", max_file_bytes=CAP, dtype=torch.float16)
    with safe_open(str(files[0]), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not iterable
    shard = json.loads(meta["shard"])
    shard["files"] = ["../elsewhere.safetensors", *shard["files"][1:]]
    save_file(tensors, str(files[0]), metadata={**meta, "shard": json.dumps(shard)})
    with pytest.raises(CheckpointError, match="invalid shard metadata"):
        load_checkpoint(files[0])


def test_a_tensor_over_the_cap_is_refused(model: VUNet, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        save_checkpoint_shards(model, tmp_path, "m", max_file_bytes=20_000)
