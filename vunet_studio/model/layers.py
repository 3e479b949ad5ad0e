"""Building blocks of the VUNet: weight-normalised convs, TF-order pixel shuffles, residual blocks.

Each block mirrors one helper of the official TensorFlow code (`nn.py`): `WNConv2d` is
`conv2d`/`nin` (weight norm with a data-dependent init), `ResidualBlock` is `residual_block`
(not gated), `Downsample`/`Upsample` are `downsample`/`upsample` (sub-pixel). Tensors are NCHW
in torch, but channel *orders* follow TF where they carry meaning (space-to-depth groups).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# The official code draws V ~ N(0, 0.05); with weight norm only its direction matters.
_V_INIT_STD = 0.05
# Epsilon of the data-dependent init (`conv2d` uses 1e-8, `dense` 1e-10; 1e-8 for both).
_DDI_EPS = 1e-8


def _tf_same_pad(x: Tensor, kernel: int, stride: int) -> tuple[Tensor, int]:
    """Pad like TF "SAME": for a stride-2 3x3 conv on an even size, bottom/right only.

    Returns the (possibly padded) input and the symmetric padding to give the conv itself.
    """
    if stride == 1:
        return x, kernel // 2
    h, w = x.shape[-2:]
    pads = []
    for size in (w, h):  # F.pad wants the last dim first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    if pads[0] == pads[1] and pads[2] == pads[3] and pads[0] == pads[2]:
        return x, pads[0]
    return F.pad(x, pads), 0


def _keep_format(y: Tensor, like: Tensor) -> Tensor:
    """Reshapes return NCHW-contiguous copies; hand channels_last back as channels_last."""
    if like.dim() == 4 and like.is_contiguous(memory_format=torch.channels_last) and not like.is_contiguous():
        return y.contiguous(memory_format=torch.channels_last)
    return y


def space_to_depth(x: Tensor, block: int = 2) -> Tensor:
    """TF `space_to_depth`: out channel = (dy * block + dx) * C + c.

    Not `F.pixel_unshuffle` (c * block² + ...): the prior's autoregressive groups are
    `chunk(4, dim=1)` of this output and must each be one sub-pixel position, all channels.
    """
    b, c, h, w = x.shape
    y = x.reshape(b, c, h // block, block, w // block, block)  # (B, C, H/2, dy, W/2, dx)
    y = y.permute(0, 3, 5, 1, 2, 4).reshape(b, block * block * c, h // block, w // block)  # (B, 4C, H/2, W/2)
    return _keep_format(y, x)


def depth_to_space(x: Tensor, block: int = 2) -> Tensor:
    """TF `depth_to_space`, the inverse of `space_to_depth` (not `F.pixel_shuffle`'s order)."""
    b, c4, h, w = x.shape
    c = c4 // (block * block)
    y = x.reshape(b, block, block, c, h, w)  # (B, dy, dx, C, H, W)
    y = y.permute(0, 3, 4, 1, 5, 2).reshape(b, c, h * block, w * block)  # (B, C, 2H, 2W)
    return _keep_format(y, x)


class WNConv2d(nn.Module):
    """Weight-normalised conv (W = g · V / ‖V‖ per output channel) with TF "SAME" padding.

    `data_dependent_init` arms a one-shot init: the next forward sets g = 1/std and
    b = -mean·g of this layer's output over (B, H, W), so its output has zero mean and unit
    variance on that batch, and returns the normalised output (as the official `init=True`
    pass does, so later layers are initialised on already-normalised inputs).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.v = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) * _V_INIT_STD)
        self.g = nn.Parameter(torch.ones(out_channels))
        self.b = nn.Parameter(torch.zeros(out_channels))
        self._ddi_pending = False

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, k={self.kernel_size}, s={self.stride}"

    def arm_data_dependent_init(self) -> None:
        self._ddi_pending = True

    def normalized_direction(self) -> Tensor:
        v = self.v
        return v / v.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)  # (O, I, k, k)

    def weight(self) -> Tensor:
        return self.g.view(-1, 1, 1, 1) * self.normalized_direction()  # (O, I, k, k)

    def forward(self, x: Tensor) -> Tensor:
        x, pad = _tf_same_pad(x, self.kernel_size, self.stride)
        if self._ddi_pending:
            return self._data_dependent_init(x, pad)
        return F.conv2d(x, self.weight(), self.b, stride=self.stride, padding=pad)

    @torch.no_grad()
    def _data_dependent_init(self, x: Tensor, pad: int) -> Tensor:
        y = F.conv2d(x, self.normalized_direction(), None, stride=self.stride, padding=pad)  # (B, O, h, w)
        mean = y.mean(dim=(0, 2, 3))  # (O,)
        var = y.var(dim=(0, 2, 3), unbiased=False)  # (O,) biased, as tf.nn.moments
        scale = 1.0 / torch.sqrt(var + _DDI_EPS)
        self.g.copy_(scale)
        self.b.copy_(-mean * scale)
        self._ddi_pending = False
        return (y - mean.view(1, -1, 1, 1)) * scale.view(1, -1, 1, 1)

    def folded(self) -> FoldedConv2d:
        """A plain conv with the current effective weight (for inference)."""
        conv = FoldedConv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride)
        assert conv.bias is not None  # built with bias=True
        with torch.no_grad():
            conv.weight.copy_(self.weight())
            conv.bias.copy_(self.b)
        return conv.to(device=self.v.device, dtype=self.v.dtype)


class FoldedConv2d(nn.Conv2d):
    """`WNConv2d` with g·V/‖V‖ folded into one weight: no per-call normalisation."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=0, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        x, pad = _tf_same_pad(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=pad)


def nin(in_channels: int, out_channels: int) -> WNConv2d:
    """The official `nin` (network-in-network): a weight-normalised 1x1 conv."""
    return WNConv2d(in_channels, out_channels, kernel_size=1)


class ResidualBlock(nn.Module):
    """x + conv3x3(dropout(ELU(concat(x, nin(ELU(a)))))); without a skip a: x + conv3x3(dropout(ELU(x)))."""

    def __init__(self, channels: int, skip_channels: int | None = None, dropout: float = 0.1) -> None:
        super().__init__()
        self.skip = nin(skip_channels, channels) if skip_channels is not None else None
        conv_in = 2 * channels if skip_channels is not None else channels
        self.conv = WNConv2d(conv_in, channels, kernel_size=3)
        self.p = dropout

    def forward(self, x: Tensor, a: Tensor | None = None, *, dropout: bool = True) -> Tensor:
        """`dropout` lets inference passes skip it even in training mode (as the official ones do)."""
        residual = x  # (B, C, H, W)
        if self.skip is not None:
            if a is None:
                raise ValueError("this residual block needs a skip input")
            residual = torch.cat([residual, self.skip(F.elu(a))], dim=1)  # (B, 2C, H, W)
        residual = F.dropout(F.elu(residual), self.p, training=self.training and dropout)
        return x + self.conv(residual)  # (B, C, H, W)


class Downsample(nn.Module):
    """The official `downsample`: a 3x3 stride-2 conv (TF SAME padding)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = WNConv2d(in_channels, out_channels, kernel_size=3, stride=2)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)  # (B, C_out, H/2, W/2)


class Upsample(nn.Module):
    """The official sub-pixel `upsample`: 3x3 conv to 4·C, then TF depth-to-space(2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = WNConv2d(in_channels, 4 * out_channels, kernel_size=3)

    def forward(self, x: Tensor) -> Tensor:
        return depth_to_space(self.conv(x), 2)  # (B, C_out, 2H, 2W)
