"""Tiny model and training configs shared by the tests (a forward pass well under a second)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from training.config import TrainConfig
from training.data import FixedSynthDataset
from training.trainer import Trainer
from vunet_studio.model import VUNet, VUNetConfig, load_checkpoint

#: The widths of every model the tests build: the official depth at a fraction of the channels.
TINY_MODEL = {"base_channels": 8, "max_channels": 16, "latent_channels": 8, "prior_channels": 32}
#: The same widths as `vunet-train` flags.
TINY_MODEL_FLAGS = [f"--model.{k}={v}" for k, v in TINY_MODEL.items()]


def tiny_model_config(size: int = 128, **overrides: Any) -> VUNetConfig:
    """The tests' tiny VUNet at `size`, with `overrides` (e.g. alpha=True, max_channels=32) applied."""
    return VUNetConfig.for_size(size, **{**TINY_MODEL, **overrides})


def tiny_config(**train: Any) -> TrainConfig:
    t = {
        "steps": 20,
        "batch_size": 2,
        "device": "cpu",
        "amp": "none",
        "init_batches": 1,
        "log_every": 5,
        "image_every": 10,
        "checkpoint_every": 0,
        "threads": 1,  # tiny models gain nothing from more; 2 shared cores oversubscribe badly
    }
    t.update(train)
    cfg = TrainConfig.from_dict(
        {
            "model": {"image_size": 128, "overrides": dict(TINY_MODEL)},
            "loss": {"kind": "pixel"},
            "schedule": {"lr_constant_steps": 1000, "lr_end_step": 2000},
            "train": t,
        }
    )
    cfg.validate()
    return cfg


def warm_start_with(tmp_path: Path, **flags: bool) -> tuple[VUNet, Trainer, FixedSynthDataset, dict[str, Any]]:
    """A tiny reference model trained 2 steps (in tmp_path/a), and a Trainer (tmp_path/b) that
    warm-starts from it with `flags` (e.g. scene_context=True) set in its model overrides.

    Returns (the old model, the new trainer, 2 items for the new config, the new config as a dict).
    """
    plain = FixedSynthDataset(tiny_config().model.build(), 2, seed=3)
    Trainer(tiny_config(steps=2), tmp_path / "a", dataset=plain, tensorboard=False).run()
    old, _ = load_checkpoint(tmp_path / "a" / "model.safetensors")
    d = tiny_config(steps=2, init_from=str(tmp_path / "a" / "model.safetensors")).to_dict()
    d["model"]["overrides"].update(flags)
    cfg = TrainConfig.from_dict(d)
    data = FixedSynthDataset(cfg.model.build(), 2, seed=3)
    return old, Trainer(cfg, tmp_path / "b", dataset=data, tensorboard=False), data, d


def renders_before_and_after(old: VUNet, new: VUNet, item: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """`item` rendered by the old model (fed only the input channels it has) and by the model
    warm-started from it: a warm start that adds inputs or outputs must not change the render."""
    parts, shape = item["parts"][None], item["shape"][None]
    with torch.no_grad():
        before = old.eval().transfer(
            parts[:, : old.config.appearance_channels], shape[:, : old.config.shape_channels]
        )
        after = new.eval().transfer(parts, shape)
    return before, after
