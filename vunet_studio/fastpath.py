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

`vunet_studio.devices` picks the precision for a machine; `PRECISION_TOLERANCE` is the accuracy
each precision promises against the fp32 reference (tests check it, the benchmark reports it).
"""

from __future__ import annotations

import copy
import functools
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from vunet_studio.devices import cpu_can_run_bf16, torch_dtype
from vunet_studio.model import VUNet
from vunet_studio.model.vunet import film_params

logger = logging.getLogger(__name__)

#: Minimum PSNR (dB, images in [-1, 1] clipped, peak-to-peak 2) each precision promises
#: against the fp32 reference forward. fp32 differs from the reference only by summation
#: order (splitting the fused 1x1 conv), hence the very high bar.
PRECISION_TOLERANCE: dict[str, float] = {"fp32": 60.0, "bf16": 35.0, "fp16": 35.0}


# --- machine capabilities ----------------------------------------------------------------
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
    #: Modulation per modulated block: (1 + gamma, beta), each (B, C, 1, 1) in the net's dtype,
    #: so a pose edit applies it in one pass (`torch.addcmul`).
    films: list[tuple[Tensor, Tensor]] = field(default_factory=list)


_M = TypeVar("_M", bound=nn.Module)


def _frozen_copy(module: _M) -> _M:
    m = copy.deepcopy(module)
    m.eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def _folded_conv(m: Tensor | nn.Module) -> tuple[Tensor, Tensor, int]:
    """(weight (O, I, k, k), bias (O,), stride) of one of a folded model's convs: a FoldedConv2d,
    always with a bias (`m` is typed as torch types a submodule attribute)."""
    if not isinstance(m, nn.Conv2d) or m.bias is None:
        raise TypeError(f"expected a folded conv with a bias, got {type(m).__name__}")
    return m.weight.detach(), m.bias.detach(), m.stride[0]


def _shuffle_order(c4: int) -> Tensor:
    """Index that permutes a sub-pixel conv's 4·C outputs from TF depth-to-space order
    ((dy·2+dx)·C + c) to `pixel_shuffle`'s (c·4 + dy·2+dx), so one fast built-in replaces
    a reshape+permute copy per upsample."""
    c = c4 // 4
    return torch.arange(c4).view(4, c).t().reshape(-1)  # new index c*4+k <- old k*C+c


def mkldnn_available() -> bool:
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


def _elu_via_exp(x: Tensor) -> Tensor:
    """ELU as max(x, exp(min(x, 0)) - 1), for the CPU's tensors (bf16 and fp32).

    torch's ELU kernel evaluates expm1 (about 1.4 ns per element here, 20% of a bf16 pose
    edit); its vectorised exp is 3x faster, and in bf16 the result differs from expm1's by
    at most one bf16 step near 0 (max |error| 0.003 vs 0.002 for F.elu itself). The max is
    exact because exp(u) - 1 >= u for every u, and it is one pass over the tensor fewer than
    relu(x) + exp(min(x, 0)) - 1 (four instead of five; -17% of ELU time, measured at 1 thread
    on the decoder's 16 x 128 x 128 activations: 616 -> 511 us).

    In fp32 the error is below one fp32 step of 1 (1.2e-7; the render's PSNR against F.elu's
    is 150 dB), and on an AVX2-only CPU (AMD EPYC, family 23), where torch's fp32 expm1 is not
    vectorised (2.0 vs 0.8 ms for 16 x 128 x 128), it makes a fp32 pose edit ~4% faster
    (paired, interleaved runs at 1 and 2 threads: /tmp probe).
    """
    t = torch.clamp_max(x, 0.0).exp_().sub_(1.0)
    return torch.maximum(x, t, out=t)


def _film_terms(film: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """`model.vunet.modulate`'s (1 + gamma, beta) of a (B, 2C) film, as (B, C, 1, 1) each."""
    gamma, beta = film.float().chunk(2, dim=1)
    return (1.0 + gamma)[:, :, None, None].to(dtype).contiguous(), beta[:, :, None, None].to(dtype).contiguous()


def _modulate(h: Tensor, terms: tuple[Tensor, Tensor]) -> Tensor:
    """h * (1 + gamma) + beta in one pass (`modulate` makes two and a temporary: measured at
    1 thread on bf16 16 x 128 x 128, 1320 -> 271 us; it also rounds once instead of twice)."""
    scale, beta = terms
    return torch.addcmul(beta, h, scale)


class _Conv:
    """One inference conv (folded weight norm) with TF "SAME" padding.

    With `packed` (CPU + oneDNN), the weight is reordered once per input shape into oneDNN's
    blocked layout and the residual add is fused into the conv (`binary add` post-op). Plain
    `F.conv2d` reorders the weight on every call, which dominates the small low-resolution
    convs at batch 1 (measured: 256->128 at 4x4, 0.21 ms -> 0.06 ms).
    """

    def __init__(
        self,
        weight: Tensor,
        bias: Tensor | None,
        stride: int,
        *,
        dtype: torch.dtype,
        device: torch.device,
        channels_last: bool,
        packed: bool,
    ) -> None:
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.weight = (
            weight.detach().to(device=device, dtype=dtype).contiguous(memory_format=fmt)
        )  # (O, I, k, k)
        self.bias = (
            None if bias is None else bias.detach().to(device=device, dtype=dtype).contiguous()
        )  # (O,)
        self.kernel = int(weight.shape[-1])
        self.stride = stride
        self.packed = packed
        self._packs: dict[tuple[int, ...], Tensor] = {}

    def _pad(self, x: Tensor) -> tuple[Tensor, int]:
        if self.stride == 1:
            return x, self.kernel // 2
        h, w = x.shape[-2:]
        pads = []
        for size in (w, h):  # TF SAME for stride 2: the extra row/column goes bottom/right
            out = -(-size // self.stride)
            total = max((out - 1) * self.stride + self.kernel - size, 0)
            pads += [total // 2, total - total // 2]
        return F.pad(x, pads), 0

    def _pack(self, x: Tensor, pad: int) -> Tensor:
        key = tuple(x.shape)
        wp = self._packs.get(key)
        if wp is None:
            # The stub lacks the input_size argument the op takes.
            wp = torch._C._nn.mkldnn_reorder_conv2d_weight(  # type: ignore[call-arg]
                self.weight.to_mkldnn(), [pad, pad], [self.stride] * 2, [1, 1], 1, list(key)
            )
            self._packs[key] = wp
        return wp

    def __call__(self, x: Tensor, residual: Tensor | None = None) -> Tensor:
        """conv(x) (+ residual, fused when packed)."""
        x, pad = self._pad(x)
        if self.packed:
            wp = self._pack(x, pad)
            args = ([pad, pad], [self.stride] * 2, [1, 1], 1)
            if residual is None:
                return torch.ops.mkldnn._convolution_pointwise(x, wp, self.bias, *args, "none", [], "")
            return torch.ops.mkldnn._convolution_pointwise.binary(
                x, residual, wp, self.bias, *args, "add", None, None, [], None
            )
        y = F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=pad)
        return y if residual is None else residual + y


class FastVUNet(nn.Module):
    """E_theta + D_theta (+ F_phi) of a VUNet, for inference only (see the module doc).

    encode(parts) -> latents; prepare(latents) -> Prepared (once per appearance);
    decode(shape, prepared) -> image (B, 3 or 4, S, S) float32 in [-1, 1] (unclipped).
    packed: prepacked oneDNN weights + fused residual adds (default: on CPUs with oneDNN).
    """

    def __init__(
        self,
        model: VUNet,
        *,
        precision: str = "fp32",
        device: str | torch.device = "cpu",
        channels_last: bool = True,
        packed: bool | None = None,
    ) -> None:
        super().__init__()
        folded = model if model.is_folded else model.folded_copy()
        cfg = folded.config
        if cfg.n_residual_blocks != 2:
            raise ValueError("FastVUNet supports 2 residual blocks per scale (the official config)")
        self.config = cfg
        self.precision = precision
        self.dtype = torch_dtype(precision)
        self.device_ = torch.device(device)
        self.channels_last = channels_last
        on_cpu = self.device_.type == "cpu"
        # oneDNN packs bf16 weights only on CPUs that can run bf16 (`cpu_can_run_bf16`); elsewhere
        # (AVX2 only) the engine refuses bf16, and a direct user gets torch's slow plain convs.
        can_pack = on_cpu and mkldnn_available() and (self.dtype != torch.bfloat16 or cpu_can_run_bf16())
        self.packed = (can_pack and channels_last) if packed is None else packed
        if self.packed and not (on_cpu and mkldnn_available()):
            raise ValueError("packed convs need a CPU with oneDNN (mkldnn)")
        # F_phi runs once per appearance: the model's own modules, converted, are enough.
        self.enc_up = _frozen_copy(folded.enc_up).to(device=self.device_, dtype=self.dtype)
        self.enc_down = _frozen_copy(folded.enc_down).to(device=self.device_, dtype=self.dtype)
        if channels_last:
            self.enc_up.to(memory_format=torch.channels_last)
            self.enc_down.to(memory_format=torch.channels_last)

        def conv(m: Tensor | nn.Module, shuffle: bool = False, dtype: torch.dtype | None = None) -> _Conv:
            w, b, stride = _folded_conv(m)  # (O, I, k, k), (O,)
            if shuffle:  # a sub-pixel upsample's conv
                order = _shuffle_order(w.shape[0])
                w, b = w[order], b[order]
            return _Conv(
                w,
                b,
                stride,
                dtype=dtype or self.dtype,
                device=self.device_,
                channels_last=channels_last,
                packed=self.packed,
            )

        up, dd = folded.dec_up, folded.dec_down
        self.n_latent_scales = dd.n_latent_scales
        # E_theta's first 1x1 conv stays fp32: the stickman is mostly one constant (background
        # -1), and the data-dependent init gives this layer large weights and a bias that
        # cancel there; in bf16 that cancellation alone cost 12 dB of PSNR at 256 (36 -> 48 dB
        # with only this layer in fp32, for 0.04% of the FLOPs).
        self.up_inp = conv(up.inp, dtype=torch.float32)
        self.up_blocks = [[conv(b.conv) for b in cast(nn.ModuleList, blocks)] for blocks in up.blocks]
        self.up_downs = [conv(d.conv) for d in up.downs]
        self.dd_inp = conv(dd.inp)
        self.dd_pre = [[(conv(b.skip), conv(b.conv)) for b in cast(nn.ModuleList, bs)] for bs in dd.pre]
        self.dd_post = [[(conv(b.skip), conv(b.conv)) for b in cast(nn.ModuleList, bs)] for bs in dd.post]
        self.dd_ups = [conv(u.conv, shuffle=True) for u in dd.ups]
        self.head = conv(folded.head)
        self.alpha_head = conv(folded.alpha_head) if folded.alpha_head is not None else None
        # Modulation (gamma, beta per block) depends on the appearance only: made in `prepare`.
        self.films = _frozen_copy(dd.films).to(self.device_) if dd.films is not None else None
        # Latent fusion nin(concat(h, z)) = W_h·h + (W_z·z + b): the z half is per appearance.
        self.fuse_h: list[_Conv] = []
        self.fuse_z: list[_Conv] = []
        for i, fuses in enumerate(dd.fuse):
            c = cfg.decoder_channels(cfg.n_scales - 1 - i)
            w, b, _ = _folded_conv(cast(nn.ModuleList, fuses)[0])  # (C, C + L, 1, 1), (C,)
            make = functools.partial(
                _Conv, dtype=self.dtype, device=self.device_, channels_last=channels_last
            )
            self.fuse_h.append(make(w[:, :c], None, 1, packed=self.packed))
            self.fuse_z.append(make(w[:, c:], b, 1, packed=False))
        # F.elu on the GPU, where its expm1 is as fast as exp.
        self._elu = _elu_via_exp if on_cpu else F.elu
        self.eval()

    def _in(self, x: Tensor, dtype: torch.dtype | None = None) -> Tensor:
        x = x.to(device=self.device_, dtype=dtype or self.dtype)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x.contiguous()

    # --- F_phi -------------------------------------------------------------------------------
    @torch.inference_mode()
    def encode(self, parts: Tensor) -> list[Tensor]:
        """Posterior means (float32, lowest scale first) of parts (B, C, P, P)."""
        x = self._in(parts)
        means, _ = self.enc_down(self.enc_up(x, False), sample=False, dropout=False, parts=x)
        return [m.float().contiguous() for m in means]

    @torch.inference_mode()
    def prepare(self, latents: list[Tensor]) -> Prepared:
        """The appearance-only part of D_theta: W_z·z + b per latent scale."""
        if len(latents) != self.n_latent_scales:
            raise ValueError(f"expected {self.n_latent_scales} latents, got {len(latents)}")
        terms = [fz(self._in(z)) for z, fz in zip(latents, self.fuse_z, strict=True)]  # (B, C, h, w)
        films = [_film_terms(f, self.dtype) for f in film_params(self.films, latents[0].to(self.device_))]
        return Prepared([z.detach().float() for z in latents], terms, films)

    # --- E_theta + D_theta -------------------------------------------------------------------
    def _skip_block(self, convs: tuple[_Conv, _Conv], x: Tensor, a_elu: Tensor) -> Tensor:
        """x + conv3x3(ELU(concat(x, nin(ELU(a))))), the residual add fused into the conv."""
        skip, conv = convs
        r = torch.cat([self._elu(x), self._elu(skip(a_elu))], dim=1)  # (B, 2C, H, W)
        return conv(r, residual=x)  # (B, C, H, W)

    def decode_tensors(
        self, shape: Tensor, z_terms: list[Tensor], films: Sequence[tuple[Tensor, Tensor]] = ()
    ) -> Tensor:
        """The pose-edit graph: the shape input float32, z terms in the net's dtype, both in its memory format;
        `films` the modulation of the blocks after z_0 (`Prepared.films`; empty without modulation)."""
        film = list(films)
        # E_theta: keep ELU(skip), which both its next block and D_theta's skip input need.
        skips: list[Tensor] = []
        h = self.up_inp(shape).to(self.dtype)  # (B, C0, S, S), from the fp32 input conv
        for s, blocks in enumerate(self.up_blocks):
            e = self._elu(h)
            for conv in blocks:
                h = conv(e, residual=h)  # (B, C_s, S/2^s, S/2^s)
                e = self._elu(h)
                skips.append(e)
            if s < len(self.up_downs):
                h = self.up_downs[s](h)  # (B, C_{s+1}, S/2^(s+1), S/2^(s+1))
        # D_theta, lowest scale first; the prior is not needed for a re-pose.
        h = self.dd_inp(h)  # (B, C, h, w): D_theta starts from E_theta's last (raw) output
        for i in range(len(self.dd_pre)):
            for convs in self.dd_pre[i]:
                h = self._skip_block(convs, h, skips.pop())
                if film and i > 0:
                    h = _modulate(h, film.pop(0))
            if i < self.n_latent_scales:
                h = self.fuse_h[i](h, residual=z_terms[i])  # nin(concat(h, z)), z half cached
            for convs in self.dd_post[i]:
                h = self._skip_block(convs, h, skips.pop())
                if film:
                    h = _modulate(h, film.pop(0))
            if i < len(self.dd_ups):
                h = F.pixel_shuffle(self.dd_ups[i](h), 2)  # (B, C', 2h, 2w)
        if self.alpha_head is None:
            return self.head(h)  # (B, 3, S, S)
        return torch.cat([self.head(h), self.alpha_head(h)], dim=1)  # (B, 4, S, S): RGB, alpha logit

    @torch.inference_mode()
    def decode(self, shape: Tensor, prepared: Prepared) -> Tensor:
        """One pose edit: (B, C, S, S) shape input -> (B, 3, S, S) float32 image, or (B, 4, S, S)
        with the alpha logit last when the model has `alpha`."""
        out = self.decode_tensors(self._in(shape, torch.float32), prepared.z_terms, prepared.films)
        return out.float().contiguous()
