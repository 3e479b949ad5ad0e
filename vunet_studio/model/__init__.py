"""The Variational U-Net model: config, network, checkpoints (Qt-free core, torch only).

The model's inputs from photos and poses are built outside it (`vunet_studio.model_inputs`),
so the model needs neither cv2 nor the pose, part or stickman code.
"""

from vunet_studio.model.checkpoint import (
    CheckpointError,
    CheckpointInfo,
    load_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
    save_checkpoint_shards,
    shard_count,
)
from vunet_studio.model.config import VUNetConfig
from vunet_studio.model.vunet import VUNet, VUNetOutput

__all__ = [
    "CheckpointError",
    "CheckpointInfo",
    "VUNet",
    "VUNetConfig",
    "VUNetOutput",
    "load_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
    "save_checkpoint_shards",
    "shard_count",
]
