"""Tiny training configs shared by the training tests (a forward pass well under a second)."""

from __future__ import annotations

from typing import Any

from training.config import TrainConfig

TINY_MODEL = {"base_channels": 8, "max_channels": 16, "latent_channels": 8, "prior_channels": 32}


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
