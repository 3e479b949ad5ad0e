"""The model's inputs from photos and poses, shared by the training data pipeline and the app's engine.

One place builds the model's inputs, so training and the app cannot drift apart:
  image_to_tensor / tensor_to_image   uint8 RGB HWC <-> float [-1, 1] CHW,
  tensor_to_alpha                     the coverage channel of a model with `cfg.alpha`,
  stickman_tensor                     the stickman ŷ (vunet_studio.stickman) as a (3, S, S) tensor,
  appearance_input                    F_phi's input: the 8 part crops stacked on channels (24, P, P),
  appearance_input_mixed              the same with each part from its own (image, pose) source,
  shape_input                         E_theta's input: the stickman, then with `cfg.warped_parts`
                                      the appearance's part crops warped onto it (`warp_parts`).
With `cfg.scene_context` F_phi's input also carries the whole frame, downsampled to P x P, on
3 more channels (27, P, P); in a mix it comes from the torso's source.
`vunet_studio.model` (the network, its config and checkpoints) takes these tensors and knows
nothing of photos, poses or stickmen.

F_phi takes the part crops only: the official code also warps the stickman into part crops
but its final `enc_up` does not use them. A missing part is 0.0 in [-1, 1] (mid grey), as
in the reference, which fills missing parts with zeros *after* scaling to [-1, 1].

Frames: the model works on S x S images (S = cfg.image_size). The appearance image is
resized to S x S (as the official loader does, aspect not kept) and the pose scaled with it
before cropping, so crops carry the same detail as in training. A pose's coordinates are
in the pixel frame of the image they come with (or of `pose.image_size` when that is set).
A render's pose must already be in the S x S frame (the engine moves it into its box once,
`framing.pose_in_box`; the training data with `to_model_frame`): `shape_input` draws and
warps it as it is, and refuses a pose whose `image_size` names another frame.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from torch import Tensor

from vunet_studio.imageio import as_rgb_uint8
from vunet_studio.model.config import WARPED_CHANNELS, VUNetConfig
from vunet_studio.parts import (
    PartSources,
    part_crops_with_mask,
    part_quads,
    source_list,
    uncrop_quad,
)
from vunet_studio.pose import Pose
from vunet_studio.skeleton import NUM_PARTS, PART_INDEX
from vunet_studio.stickman import draw_stickman


def image_to_tensor(img: np.ndarray) -> Tensor:
    """uint8 RGB (H, W, 3) (gray or RGBA accepted) -> float32 (3, H, W) in [-1, 1]."""
    rgb = as_rgb_uint8(img)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)  # (3, H, W) uint8
    return t.to(torch.float32) / 127.5 - 1.0


def tensor_to_image(t: Tensor) -> np.ndarray:
    """(C, H, W) or (B, C, H, W) in [-1, 1] -> uint8 (H, W, 3) or (B, H, W, 3), clipped and rounded.

    Only the first 3 channels (RGB) are taken: a model with `alpha` outputs a 4th."""
    if t.dim() not in (3, 4) or t.shape[-3] < 3:
        raise ValueError(f"expected (3, H, W) or (B, 3, H, W), got {tuple(t.shape)}")
    t = t[..., :3, :, :]
    x = ((t.detach().float().cpu() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)
    x = x.permute(1, 2, 0) if t.dim() == 3 else x.permute(0, 2, 3, 1)  # channels last
    return x.contiguous().numpy()


def tensor_to_alpha(t: Tensor) -> np.ndarray | None:
    """The person's coverage from a model output (C, H, W) or (B, C, H, W): float32 (H, W) or
    (B, H, W) in [0, 1], the sigmoid of channel 3; None when the output has no alpha channel."""
    if t.dim() not in (3, 4) or t.shape[-3] < 4:
        return None
    return torch.sigmoid(t[..., 3, :, :].detach().float()).cpu().contiguous().numpy()


def pose_in_frame(pose: Pose, width: int, height: int, source_size: tuple[int, int] | None = None) -> Pose:
    """`pose` rescaled from `source_size` (default: `pose.image_size`) to a width x height frame."""
    src = source_size if source_size is not None else pose.image_size
    if src is None or tuple(src) == (width, height):
        return pose.with_image_size((width, height))
    return pose.scaled(width / src[0], height / src[1])


def _check_model_frame(pose: Pose, size: int) -> None:
    """A render's pose must be in the size x size frame already: converting here again would
    be a second frame conversion per pose edit (and hide a caller's mistake)."""
    if pose.image_size is not None and tuple(pose.image_size) != (size, size):
        raise ValueError(
            f"the pose is in a {pose.image_size[0]}x{pose.image_size[1]} frame, not the model's "
            f"{size}x{size}: move it there first (framing.pose_in_box or to_model_frame)"
        )


def stickman_tensor(pose: Pose, size: int) -> Tensor:
    """The stickman ŷ of `pose` (in the size x size frame) as float32 (3, size, size) in [-1, 1]."""
    _check_model_frame(pose, size)
    return image_to_tensor(draw_stickman(pose, size, size))


def to_model_frame(image: np.ndarray, pose: Pose, size: int) -> tuple[np.ndarray, Pose]:
    """`image` resized to size x size (RGB uint8) and `pose` scaled with it."""
    rgb = as_rgb_uint8(image)
    h, w = rgb.shape[:2]
    pose_px = pose_in_frame(pose, w, h)  # in case pose.image_size is another frame than the image's
    if (w, h) == (size, size):
        return rgb, pose_px
    # INTER_AREA when shrinking approximates the antialiased PIL bilinear the reference used.
    interp = cv2.INTER_AREA if w > size or h > size else cv2.INTER_LINEAR
    resized = cv2.resize(rgb, (size, size), interpolation=interp)
    return resized, pose_in_frame(pose_px, size, size, source_size=(w, h))


def parts_to_tensor(crops: np.ndarray, present: np.ndarray) -> Tensor:
    """uint8 crops (8, P, P, 3) + present (8,) -> float32 (24, P, P); part k on channels 3k..3k+2."""
    if crops.shape[0] != NUM_PARTS or crops.ndim != 4 or crops.shape[3] != 3:
        raise ValueError(f"expected crops ({NUM_PARTS}, P, P, 3), got {crops.shape}")
    t = (
        torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0
    )  # (8, 3, P, P)
    t[~torch.from_numpy(np.asarray(present, bool))] = 0.0  # a missing part is 0 in [-1, 1] space
    return t.reshape(NUM_PARTS * 3, crops.shape[1], crops.shape[2])  # (24, P, P)


def scene_tensor(frame: np.ndarray, size: int) -> Tensor:
    """The model frame (S, S, 3) uint8 downsampled to float32 (3, size, size) in [-1, 1]."""
    small = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    return torch.from_numpy(np.ascontiguousarray(small)).permute(2, 0, 1).to(torch.float32) / 127.5 - 1.0


def appearance_input(image_uint8: np.ndarray, pose: Pose, cfg: VUNetConfig) -> Tensor:
    """F_phi's input for one appearance image: float32 (C, P, P), C = cfg.appearance_channels
    (24, or 27 with the scene), P = cfg.part_size."""
    img, p = to_model_frame(image_uint8, pose, cfg.image_size)
    crops, present = part_crops_with_mask(img, p, cfg.part_size)
    parts = parts_to_tensor(crops, present)  # (24, P, P)
    if not cfg.scene_context:
        return parts
    return torch.cat([parts, scene_tensor(img, cfg.part_size)])  # (27, P, P)


def appearance_input_mixed(sources: PartSources, cfg: VUNetConfig) -> Tensor:
    """F_phi's input with part k from its own source: float32 (C, P, P) as `appearance_input`;
    the scene channels (if any) come from the torso's source, else the first part's.

    `sources`: one (image, pose) per part in PART_NAMES order (None = leave the part out), or
    a mapping {part name: (image, pose)}. Example, a top from photo A and trousers from B:
        appearance_input_mixed({**{n: (a, pa) for n in ("torso", "head", "lupperarm", "lforearm",
                                "rupperarm", "rforearm")}, "lthigh": (b, pb), "rthigh": (b, pb)}, cfg)
    Prebuilt inputs can be mixed too: see `mix_appearance`.
    """
    items = source_list(sources)
    built: dict[tuple[int, int], Tensor] = {}
    choice: list[int | None] = []
    for src in items:
        if src is None:
            choice.append(None)
            continue
        key = (id(src[0]), id(src[1]))
        if key not in built:  # one cropping pass per distinct source
            built[key] = appearance_input(src[0], src[1], cfg)
        choice.append(list(built).index(key))
    if not built:
        return torch.zeros(cfg.appearance_channels, cfg.part_size, cfg.part_size)  # (C, P, P)
    return mix_appearance(list(built.values()), choice)


def mix_appearance(inputs: Sequence[Tensor], choice: Sequence[int | None]) -> Tensor:
    """Mix prebuilt appearance inputs: part k from inputs[choice[k]] (None = missing part).

    inputs: each (C, P, P) or (B, C, P, P) from `appearance_input`; returns the same shape.
    Scene channels (C = 27) come from the first part's choice that is not None.
    """
    if len(choice) != NUM_PARTS:
        raise ValueError(f"need one choice per part ({NUM_PARTS}), got {len(choice)}")
    out = torch.zeros_like(inputs[0])
    for k, c in enumerate(choice):
        if c is not None:
            out[..., 3 * k : 3 * k + 3, :, :] = inputs[c][..., 3 * k : 3 * k + 3, :, :]
    first = next((c for c in choice if c is not None), None)
    if first is not None and out.shape[-3] > 3 * NUM_PARTS:
        out[..., 3 * NUM_PARTS :, :, :] = inputs[first][..., 3 * NUM_PARTS :, :, :]
    return out


#: Paint order of the warped parts: later ones cover earlier ones (arms in front of the torso).
_WARP_ORDER = tuple(
    PART_INDEX[n]
    for n in ("torso", "lthigh", "rthigh", "head", "lupperarm", "rupperarm", "lforearm", "rforearm")
)


def warp_parts(parts: Tensor | None, pose: Pose, cfg: VUNetConfig) -> Tensor:
    """The part crops of an appearance input warped onto `pose` (in the S x S frame): float32 (4, S, S).

    Each crop goes back through its part's quad in `pose` (the inverse of the cropping), and
    the parts are painted in `_WARP_ORDER`. Channels 0-2: RGB in [-1, 1], 0.0 (mid grey) where
    no part lands; channel 3: coverage in [0, 1]. A part missing from `parts` (an all-zero crop:
    uint8 pixels never map to exactly 0.0) or from `pose` is left out. `parts` None (no
    appearance image, e.g. a prior sample) gives all zeros, as does a model trained to expect
    that now and then (`data.warp_dropout`).
    """
    s = cfg.image_size
    _check_model_frame(pose, s)
    out = np.zeros((s, s, WARPED_CHANNELS), np.float32)  # premultiplied RGB + coverage
    if parts is not None:
        crops = parts[: 3 * NUM_PARTS].detach().float().cpu().numpy()  # (24, P, P)
        ones = np.ones((*crops.shape[1:], 1), np.float32)  # (P, P, 1): the coverage channel
        quads = part_quads(pose, s)
        for k in _WARP_ORDER:
            crop, quad = crops[3 * k : 3 * k + 3], quads[k]
            if quad is None or not crop.any():
                continue
            # Only the quad's bounding box (1 px more: bilinear edges) is warped and painted:
            # outside it the layer is zero. A limb covers a few % of the frame, so this is
            # most of the warp's cost saved on every pose edit (and every training item).
            q = np.asarray(quad, np.float32)  # (4, 2) x, y
            x0, y0 = np.maximum(np.floor(q.min(axis=0)).astype(int) - 1, 0)
            x1, y1 = np.minimum(np.ceil(q.max(axis=0)).astype(int) + 2, s)
            if x0 >= x1 or y0 >= y1:
                continue  # entirely outside the frame
            rgba = np.concatenate([crop.transpose(1, 2, 0), ones], axis=2)  # (P, P, 4)
            layer = uncrop_quad(rgba, q - (x0, y0), int(x1 - x0), int(y1 - y0))  # RGB premultiplied
            region = out[y0:y1, x0:x1]
            region *= 1.0 - layer[:, :, 3:]  # "over", in place
            region += layer
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))  # (4, S, S)


def shape_input(pose: Pose, parts: Tensor | None, cfg: VUNetConfig) -> Tensor:
    """E_theta's input for a render of `pose` (in the S x S frame): float32 (cfg.shape_channels, S, S).

    The stickman; with `cfg.warped_parts` then `warp_parts(parts, pose)`, where `parts` is the
    appearance input (from `appearance_input`, possibly mixed) or None when there is none.
    """
    stick = stickman_tensor(pose, cfg.image_size)  # (3, S, S)
    if not cfg.warped_parts:
        return stick
    return torch.cat([stick, warp_parts(parts, pose, cfg)])  # (7, S, S)
