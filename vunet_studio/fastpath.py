"""Inference fast paths for the VUNet: what a pose edit and an appearance swap actually run.

The model's own `VUNet.decode` is the reference. `FastVUNet` computes the same function with
less work and in a faster number format:

* weight norm folded into plain convs (no g·V/‖V‖ per call), dropout never applied;
* the decoder's latent fusion `nin(concat(h, z))` split into W_h·h + (W_z·z + b): the z term
  depends on the appearance only, so `prepare` computes it once per appearance and a pose
  edit runs only the h half (and no prior: re-posing does not need it);
* ELU of every E_theta skip computed once (E_theta's next block and D_theta's skip input both
  need it);
* the sub-pixel upsample's output channels permuted once so torch's `pixel_shuffle` gives TF's
  depth-to-space order (no reshape/permute copies per call);
* channels_last memory format and bf16 (CPUs with native bf16: AVX512-BF16 / AMX) or
  fp16/bf16 (CUDA) weights and activations; outputs are returned as float32.

`precision_info()` says what this machine supports; `PRECISION_TOLERANCE` is the accuracy
each precision promises against the fp32 reference (tests check it, the benchmark reports it).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vunet_studio.model import VUNet
from vunet_studio.model.layers import FoldedConv2d, ResidualBlock

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")

#: Minimum PSNR (dB, images in [-1, 1] clipped, peak-to-peak 2) each precision promises
#: against the fp32 reference forward. fp32 differs from the reference only by summation
#: order (splitting the fused 1x1 conv), hence the very high bar.
PRECISION_TOLERANCE: dict[str, float] = {"fp32": 60.0, "bf16": 35.0, "fp16": 35.0}


# --- machine capabilities ----------------------------------------------------------------
@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes bf16 dot products in hardware (AVX512-BF16 or AMX-BF16).

    Without them oneDNN emulates bf16 by converting to fp32, which is usually slower than fp32.
    """
    flags = _cpu_flags()
    native = "avx512_bf16" in flags or "amx_bf16" in flags
    mkldnn_ok = bool(torch.backends.mkldnn.is_available())
    try:
        mkldnn_ok = mkldnn_ok and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        pass
    return native and mkldnn_ok


@functools.cache
def physical_cores() -> int:
    """Physical cores this process may run on (hyper-threads don't help convolutions)."""
    try:
        allowed = os.sched_getaffinity(0)
    except AttributeError:  # not on Linux
        return max(1, (os.cpu_count() or 2) // 2)
    cores: set[tuple[str, str]] = set()
    for cpu in allowed:
        base = f"/sys/devices/system/cpu/cpu{cpu}/topology"
        try:
            with open(f"{base}/physical_package_id") as f:
                pkg = f.read().strip()
            with open(f"{base}/core_id") as f:
                core = f.read().strip()
        except OSError:
            return max(1, len(allowed))
        cores.add((pkg, core))
    return max(1, len(cores))


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when present, else CPU; 'cpu'/'cuda'/'cuda:N' as given (checked)."""
    d = device.strip().lower()
    if d == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(d)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA device is available: use 'cpu' or 'auto'")
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}: use 'auto', 'cpu' or 'cuda'")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """'auto' -> the fastest precision that keeps quality on `device` (see the module doc)."""
    p = precision.strip().lower()
    if p == "auto":
        if device.type == "cuda":
            # fp16 keeps 3 more mantissa bits than bf16; the model's activations stay far
            # inside fp16's range (ELU nets, unit-variance init).
            return "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if p not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use fp32, bf16, fp16 or auto")
    if p == "fp16" and device.type == "cpu":
        raise ValueError("fp16 is for CUDA; on a CPU use bf16 or fp32")
    return p


def torch_dtype(precision: str) -> torch.dtype:
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def psnr(a: Tensor, b: Tensor) -> float:
    """PSNR in dB of two images in [-1, 1] (clipped first, as they would be displayed)."""
    a = a.detach().float().clamp(-1, 1)
    b = b.detach().float().clamp(-1, 1)
    mse = float((a - b).square().mean())
    if mse == 0.0:
        return float("inf")
    return float(10.0 * torch.log10(torch.tensor(4.0 / mse)))


# --- the fast network ------------------------------------------------------------------------
@dataclass
class Prepared:
    """A cached appearance for `FastVUNet.decode`: the z terms of D_theta's latent fusions."""

    latents: list[Tensor]  # posterior means or prior samples, float32, lowest scale first
    z_terms: list[Tensor]  # per latent scale: W_z·z + b, (1, C, h, w) in the net's dtype


def _frozen_copy(module: nn.Module) -> nn.Module:
    m = copy.deepcopy(module)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _tf_to_torch_shuffle_order(conv: FoldedConv2d) -> None:
    """Permute an upsample conv's 4·C outputs from TF depth-to-space order ((dy·2+dx)·C + c) to
    `pixel_shuffle`'s (c·4 + dy·2+dx), so one fast built-in replaces reshape+permute copies."""
    c4 = conv.out_channels
    c = c4 // 4
    order = torch.arange(c4).view(4, c).t().reshape(-1)  # new index c*4+k <- old k*C+c
    with torch.no_grad():
        conv.weight.copy_(conv.weight[order].clone())
        conv.bias.copy_(conv.bias[order].clone())


class FastVUNet(nn.Module):
    """E_theta + D_theta (+ F_phi) of a VUNet, for inference only (see the module doc).

    encode(parts) -> latents; prepare(latents) -> Prepared (once per appearance);
    decode(stickman, prepared) -> image (B, 3, S, S) float32 in [-1, 1] (unclipped).
    """

    def __init__(
        self,
        model: VUNet,
        *,
        precision: str = "fp32",
        device: str | torch.device = "cpu",
        channels_last: bool = True,
        split_concat: bool = False,
    ) -> None:
        super().__init__()
        folded = model if model.is_folded else model.folded_copy()
        self.config = folded.config
        self.precision = precision
        self.dtype = torch_dtype(precision)
        self.device_ = torch.device(device)
        self.channels_last = channels_last
        self.split_concat = split_concat
        self.enc_up = _frozen_copy(folded.enc_up)
        self.enc_down = _frozen_copy(folded.enc_down)
        self.dec_up = _frozen_copy(folded.dec_up)
        dec_down = folded.dec_down
        self.n_latent_scales = dec_down.n_latent_scales
        self.dd_inp = _frozen_copy(dec_down.inp)
        self.dd_pre = _frozen_copy(dec_down.pre)
        self.dd_post = _frozen_copy(dec_down.post)
        self.dd_ups = _frozen_copy(dec_down.ups)
        for up in self.dd_ups:
            _tf_to_torch_shuffle_order(up.conv)
        self.head = _frozen_copy(folded.head)
        # Latent fusion 1x1 convs split into the h half (run per edit) and the z half (per appearance).
        fuse_h: list[Tensor] = []
        fuse_z: list[tuple[Tensor, Tensor]] = []
        for i, fuses in enumerate(dec_down.fuse):
            if len(fuses) != 1:
                raise ValueError("FastVUNet supports 2 residual blocks per scale (the official config)")
            w, b = fuses[0].weight.detach(), fuses[0].bias.detach()  # (C, C + L, 1, 1), (C,)
            c = self.config.decoder_channels(self.config.n_scales - 1 - i)
            fuse_h.append(w[:, :c].clone())
            fuse_z.append((w[:, c:].clone(), b.clone()))
        self.fuse_h = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w in fuse_h)
        self.fuse_zw = nn.ParameterList(nn.Parameter(w, requires_grad=False) for w, _ in fuse_z)
        self.fuse_zb = nn.ParameterList(nn.Parameter(b, requires_grad=False) for _, b in fuse_z)
        if split_concat:
            self._split_skip_convs()
        self.to(device=self.device_, dtype=self.dtype)
        if channels_last:
            self.to(memory_format=torch.channels_last)
        self.eval()

    # --- layout helpers --------------------------------------------------------------------
    def _split_skip_convs(self) -> None:
        """conv3x3(concat(x, s)) == conv_x(x) + conv_s(s): avoids the concat copy (same FLOPs)."""
        for blocks in (*self.dd_pre, *self.dd_post):
            for blk in blocks:
                w = blk.conv.weight.detach()  # (C, 2C, 3, 3)
                c = w.shape[0]
                blk.register_parameter("w_x", nn.Parameter(w[:, :c].clone(), requires_grad=False))
                blk.register_parameter("w_s", nn.Parameter(w[:, c:].clone(), requires_grad=False))

    def _in(self, x: Tensor) -> Tensor:
        x = x.to(device=self.device_, dtype=self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    # --- F_phi -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, parts: Tensor) -> list[Tensor]:
        """Posterior means (float32, lowest scale first) of parts (B, 24, P, P)."""
        means, _ = self.enc_down(self.enc_up(self._in(parts), False), sample=False, dropout=False)
        return [m.float().contiguous() for m in means]

    @torch.inference_mode()
    def prepare(self, latents: list[Tensor]) -> Prepared:
        """The appearance-only part of D_theta: W_z·z + b per latent scale."""
        if len(latents) != self.n_latent_scales:
            raise ValueError(f"expected {self.n_latent_scales} latents, got {len(latents)}")
        terms = []
        for z, w, b in zip(latents, self.fuse_zw, self.fuse_zb, strict=True):
            terms.append(F.conv2d(self._in(z), w, b))  # (B, C, h, w)
        return Prepared([z.detach().float() for z in latents], terms)

    # --- E_theta + D_theta -------------------------------------------------------------------
    def _skip_block(self, blk: ResidualBlock, x: Tensor, a_elu: Tensor) -> Tensor:
        s = blk.skip(a_elu)  # (B, C, H, W)
        if self.split_concat:
            pad = blk.conv.kernel_size[0] // 2
            y = F.conv2d(F.elu(x), blk.w_x, blk.conv.bias, padding=pad)
            return x + y + F.conv2d(F.elu(s), blk.w_s, None, padding=pad)
        return x + blk.conv(F.elu(torch.cat([x, s], dim=1)))  # (B, C, H, W)

    def decode_tensors(self, stickman: Tensor, z_terms: list[Tensor]) -> Tensor:
        """The pose-edit graph on tensors already in the net's dtype/format (torch.compile target)."""
        # E_theta: keep ELU(skip), which both its next block and D_theta's skip input need.
        skips: list[Tensor] = []
        up = self.dec_up
        h = up.inp(stickman)  # (B, 32, S, S)
        for s, blocks in enumerate(up.blocks):
            e = F.elu(h)
            for blk in blocks:
                h = h + blk.conv(e)  # (B, C_s, S/2^s, S/2^s)
                e = F.elu(h)
                skips.append(e)
            if s < len(up.downs):
                h = up.downs[s](h)  # (B, C_s+1, S/2^(s+1), S/2^(s+1))
        # D_theta, lowest scale first; the prior is not needed for a re-pose.
        h = self.dd_inp(h)  # (B, C, h, w): D_theta starts from E_theta's last (raw) output
        for i in range(len(self.dd_pre)):
            for blk in self.dd_pre[i]:
                h = self._skip_block(blk, h, skips.pop())
            if i < self.n_latent_scales:
                h = F.conv2d(h, self.fuse_h[i]) + z_terms[i]  # nin(concat(h, z)), z half cached
            for blk in self.dd_post[i]:
                h = self._skip_block(blk, h, skips.pop())
            if i < len(self.dd_ups):
                h = F.pixel_shuffle(self.dd_ups[i].conv(h), 2)  # (B, C', 2h, 2w)
        return self.head(h)  # (B, 3, S, S)

    @torch.inference_mode()
    def decode(self, stickman: Tensor, prepared: Prepared) -> Tensor:
        """One pose edit: (B, 3, S, S) stickman -> (B, 3, S, S) float32 image."""
        out = self._decode_fn(self._in(stickman), prepared.z_terms)
        return out.float().contiguous()

    @property
    def _decode_fn(self) -> Callable[[Tensor, list[Tensor]], Tensor]:
        return getattr(self, "_compiled", None) or self.decode_tensors

    def compile(self, **kwargs: object) -> None:  # type: ignore[override]
        """torch.compile the pose-edit graph (slow the first call: do it off the UI thread)."""
        self._compiled = torch.compile(self.decode_tensors, dynamic=False, **kwargs)
