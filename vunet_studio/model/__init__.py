"""The Variational U-Net model: config, network, checkpoints (Qt-free core).

`vunet_studio.model.convert` (images and poses -> tensors) is imported from its own module,
so importing the model needs neither cv2 nor the stickman code.
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
