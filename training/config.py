"""Training configuration: typed sections loaded from YAML, with dotted command-line overrides.

`TrainConfig` is the whole run: `model` (keyword overrides for `VUNetConfig.for_size`), `data`,
`loss`, `schedule` (KL annealing and learning rate), `optim`, `train` (loop, device,
checkpointing, logging). Every default is the reference's value (see shared/reference/vunet.md);
a YAML file only needs the keys it changes. `--model.base_channels=16` style overrides are
parsed as YAML scalars, so `--train.device=cpu`, `--loss.gram_weights=[0.1,0.1,0,0,0]` work.
The resolved config is written into the run directory, so a run can always be reproduced.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vunet_studio.model.config import VUNetConfig


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


@dataclass
class ModelSection:
    image_size: int = 128
    #: Keyword overrides for `VUNetConfig.for_size(image_size, ...)` (e.g. base_channels).
    overrides: dict[str, Any] = field(default_factory=dict)

    def build(self) -> VUNetConfig:
        try:
            return VUNetConfig.for_size(self.image_size, **self.overrides)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"model: {exc}") from exc


@dataclass
class DataSection:
    #: "synth" (people rendered on the fly), "index" (an official index.p) or "folder".
    kind: str = "synth"
    #: index.p file for kind=index; a folder of images + pose JSON files (same stem) for kind=folder.
    path: str | None = None
    #: For kind=index: use the samples with train=True ("train"), train=False ("test") or all.
    split: str = "train"
    #: Seeds of the synthetic people start here (item i is `sample(seed + i)`).
    seed: int = 0
    num_workers: int = 0
    #: Drop samples without both shoulders and both hips (as the reference does).
    require_torso: bool = True
    #: kind=synth: the share of items that are re-posing pairs (F_phi sees the person in one
    #: pose, the loss the same person in another: the task the app and vunet-eval ask for);
    #: the rest reconstruct their own image, as the reference trains.
    pair_fraction: float = 0.0
    #: kind=synth, for models with `warped_parts`: the share of items whose E_theta input has
    #: no warped parts (zeros), as when the app renders a prior sample ("random person").
    warp_dropout: float = 0.0
    #: kind=synth: photographic options, each a probability (`training.synth.realism.Realism`:
    #: photo_background, photo_texture, shading, face, footwear, noise, blur, jpeg, exposure,
    #: white_balance, grayscale, low_light, small, cut, upper_body, distractor). Empty = off.
    realism: dict[str, float] = field(default_factory=dict)
    #: kind=synth: folder of photos for backgrounds and fabrics (None: $VUNET_TEXTURES, then
    #: data/textures from scripts/fetch_textures.py; without photos, procedural textures).
    texture_dir: str | None = None


@dataclass
class LossSection:
    #: "vgg" (pixels + VGG19 features, falls back to "pixel" without weights) or "pixel".
    kind: str = "vgg"
    #: Local VGG19 state dict (torchvision layout); None: the torch hub cache file.
    vgg_weights: str | None = None
    #: Overall factor of the reconstruction term (the reference's 5).
    weight: float = 5.0
    #: Per-term weights: pixels, relu1_2, relu2_2, relu3_2, relu4_2, relu5_2.
    layer_weights: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0, 1.0, 1.0, 1.0])
    #: torchvision's VGG19 takes ImageNet-normalised [0,1] input, the reference's Keras/Caffe
    #: VGG19 took 0-255 BGR; features scale by about 255 x ImageNet std (0.226) = 57.6, so this
    #: factor keeps the feature terms as strong relative to the pixel term as in the reference.
    vgg_feature_scale: float = 57.6
    #: Weight of the image-gradient L1 in the fallback ("pixel") loss, 0-255 scale.
    gradient_weight: float = 1.0
    #: Extra weight of the person's pixels in the pixel and gradient terms, where the data
    #: has silhouettes (synthetic people): weight 1 + person_weight inside, 1 outside,
    #: normalised per image. 0 = the reference loss.
    person_weight: float = 0.0
    #: Weight of the alpha term (binary cross-entropy of the model's alpha channel against
    #: the person's mask), for models with `alpha` on data with masks (synthetic people).
    #: Outside `weight`: the reconstruction terms sum to ~100-300 on the 0-255 scale, so
    #: this keeps the mask's gradient comparable to the image's.
    alpha_weight: float = 100.0
    #: Gram-matrix L1 per VGG layer (relu1_2..relu5_2); all zero = off (the first stage).
    gram_weights: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0, 0.0, 0.0])
    #: Written by the trainer into the resolved config: the loss that actually ran
    #: ("vgg19" or "pixel+gradient"); ignored on input.
    used: str | None = None


@dataclass
class ScheduleSection:
    kl_start_weight: float = 1e-6
    kl_end_weight: float = 1.0
    kl_start_step: int = 50_000
    kl_end_step: int = 75_000
    lr: float = 1e-3
    lr_constant_steps: int = 1_000
    lr_end_step: int = 100_000


@dataclass
class OptimSection:
    beta1: float = 0.5
    beta2: float = 0.9
    #: Clip the global gradient norm (0 = off; the reference does not clip).
    grad_clip: float = 0.0
    #: The alpha head's learning rate / schedule.lr (models with `alpha`): it learns from
    #: scratch beside weights a warm start brings already fitted.
    alpha_lr_scale: float = 10.0


@dataclass
class TrainSection:
    steps: int = 100_000
    batch_size: int = 16
    seed: int = 0
    #: "auto" (CUDA when there is one, else CPU), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    #: Mixed precision: "auto" (bf16 on CUDA, fp32 on CPU), "bf16", "fp16" (CUDA), "none".
    amp: str = "auto"
    #: channels_last memory format (None = CUDA only). On the shared 2-core CPU the benchmark
    #: (benchmarks/train_throughput.py) was too noisy to call: fp32 0.34-0.79 images/s with it,
    #: 0.43-0.70 without; bf16 + channels_last was the fastest run (1.05).
    channels_last: bool | None = True
    #: CPU threads for torch (0 = torch's default).
    threads: int = 0
    #: Batches for the weight-norm data-dependent init on a fresh start (the reference: 4).
    init_batches: int = 4
    log_every: int = 10
    image_every: int = 500
    checkpoint_every: int = 1_000
    #: Resume files kept in the run directory (the newest N).
    keep_last: int = 3
    #: Warm start: load weights from this .safetensors before training.
    init_from: str | None = None
    #: With init_from: continue the schedules at the checkpoint's step (True) or start at 0.
    init_keep_step: bool = False
    #: Stop after this many steps in this process (0 = off); for tests and benchmarks.
    max_steps_this_run: int = 0


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    loss: LossSection = field(default_factory=LossSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    optim: OptimSection = field(default_factory=OptimSection)
    train: TrainSection = field(default_factory=TrainSection)

    # --- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        return _build(cls, d, "")

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def validate(self) -> None:
        if self.data.kind not in ("synth", "index", "folder"):
            raise ConfigError(f"data.kind must be synth, index or folder, got {self.data.kind!r}")
        if self.data.kind != "synth" and not self.data.path:
            raise ConfigError(f"data.path is needed for data.kind={self.data.kind}")
        if self.data.split not in ("train", "test", "all"):
            raise ConfigError(f"data.split must be train, test or all, got {self.data.split!r}")
        if not 0.0 <= self.data.pair_fraction <= 1.0:
            raise ConfigError(f"data.pair_fraction must be in [0, 1], got {self.data.pair_fraction}")
        if self.data.pair_fraction and self.data.kind != "synth":
            raise ConfigError(
                "data.pair_fraction needs data.kind=synth (only synthetic people come in pairs)"
            )
        if not 0.0 <= self.data.warp_dropout <= 1.0:
            raise ConfigError(f"data.warp_dropout must be in [0, 1], got {self.data.warp_dropout}")
        if self.data.warp_dropout and self.data.kind != "synth":
            raise ConfigError("data.warp_dropout needs data.kind=synth")
        if self.data.realism:
            if self.data.kind != "synth":
                raise ConfigError("data.realism needs data.kind=synth")
            from training.synth.realism import Realism  # lazy: it imports the renderer

            try:
                Realism.from_mapping(self.data.realism, self.data.texture_dir)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"data.realism: {exc}") from None
        if self.loss.kind not in ("vgg", "pixel"):
            raise ConfigError(f"loss.kind must be vgg or pixel, got {self.loss.kind!r}")
        if len(self.loss.layer_weights) != 6:
            raise ConfigError("loss.layer_weights needs 6 numbers (pixels + 5 VGG layers)")
        if len(self.loss.gram_weights) != 5:
            raise ConfigError("loss.gram_weights needs 5 numbers (one per VGG layer)")
        if self.train.amp not in ("auto", "bf16", "fp16", "none"):
            raise ConfigError(f"train.amp must be auto, bf16, fp16 or none, got {self.train.amp!r}")
        if self.train.batch_size < 1 or self.train.steps < 1:
            raise ConfigError("train.batch_size and train.steps must be positive")
        t = self.train
        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", t.device):
            raise ConfigError(f"train.device must be auto, cpu, cuda or cuda:N, got {t.device!r}")
        for key, value, low in (
            ("train.log_every", t.log_every, 1),
            ("train.init_batches", t.init_batches, 1),
            ("train.keep_last", t.keep_last, 1),
            ("train.image_every", t.image_every, 0),
            ("train.checkpoint_every", t.checkpoint_every, 0),
            ("train.threads", t.threads, 0),
            ("train.max_steps_this_run", t.max_steps_this_run, 0),
            ("data.num_workers", self.data.num_workers, 0),
            ("data.seed", self.data.seed, 0),
            ("train.seed", t.seed, 0),
        ):
            if value < low:
                raise ConfigError(f"{key} must be at least {low}, got {value}")
        s = self.schedule
        if not (math.isfinite(s.lr) and s.lr > 0):
            raise ConfigError(f"schedule.lr must be a positive number, got {s.lr}")
        numbers = {
            "schedule.kl_start_weight": s.kl_start_weight,
            "schedule.kl_end_weight": s.kl_end_weight,
            "optim.grad_clip": self.optim.grad_clip,
            "optim.alpha_lr_scale": self.optim.alpha_lr_scale,
            "loss.alpha_weight": self.loss.alpha_weight,
            "loss.weight": self.loss.weight,
            "loss.vgg_feature_scale": self.loss.vgg_feature_scale,
            "loss.gradient_weight": self.loss.gradient_weight,
            "loss.person_weight": self.loss.person_weight,
            **{f"loss.layer_weights[{i}]": w for i, w in enumerate(self.loss.layer_weights)},
            **{f"loss.gram_weights[{i}]": w for i, w in enumerate(self.loss.gram_weights)},
        }
        for key, number in numbers.items():
            if not (math.isfinite(number) and number >= 0):
                raise ConfigError(f"{key} must be a number >= 0, got {number}")
        for key, beta in (("optim.beta1", self.optim.beta1), ("optim.beta2", self.optim.beta2)):
            if not (0.0 <= beta < 1.0):
                raise ConfigError(f"{key} must be in [0, 1), got {beta}")
        if self.schedule.kl_end_step < self.schedule.kl_start_step:
            raise ConfigError("schedule.kl_end_step must not be before kl_start_step")
        if self.schedule.lr_end_step < self.schedule.lr_constant_steps:
            raise ConfigError("schedule.lr_end_step must not be before lr_constant_steps")
        self.model.build()


def _build(cls: type, d: Any, where: str) -> Any:
    if not isinstance(d, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {type(d).__name__}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(where + k for k in unknown)}")
    values: dict[str, Any] = {}
    for name, value in d.items():
        hint = hints[name]
        if isinstance(hint, type) and dataclasses.is_dataclass(hint):
            values[name] = _build(hint, value or {}, f"{where}{name}.")
        else:
            values[name] = _coerce(value, hint, f"{where}{name}")
    return cls(**values)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check (and gently convert: int -> float) one value against its annotation."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(hint):
            return None
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _coerce(value, inner[0], key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is Any:
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):
        # YAML 1.1 reads "5e-4" (no dot) as a string.
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if hint is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if hint in (float, str) and not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value


def apply_overrides(d: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML scalars) to a nested dict.

    Keys under `model.` other than `model.image_size` go to `model.overrides` (the
    VUNetConfig fields), so `--model.base_channels=16` works as written.
    """
    out = yaml.safe_load(yaml.safe_dump(d)) or {}
    for item in overrides:
        key, sep, raw = item.lstrip("-").partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key=value")
        parts = key.split(".")
        if parts[0] == "model" and len(parts) == 2 and parts[1] not in ("image_size", "overrides"):
            parts = ["model", "overrides", parts[1]]
        try:
            value = yaml.safe_load(raw) if raw != "" else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"override {item!r}: cannot parse value ({exc})") from exc
        node = out
        for p in parts[:-1]:
            nxt = node.setdefault(p, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"override {item!r}: {p} is not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Defaults <- YAML file <- overrides; validated."""
    d: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"no config file at {p}") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config {p}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{p} is not a text (YAML) file") from None
        except yaml.YAMLError as exc:
            # One line: the YAML error's own text spans several, with a marked excerpt.
            where = getattr(exc, "problem_mark", None)
            at = f" at line {where.line + 1}" if where is not None else ""
            raise ConfigError(f"{p} is not valid YAML{at}: {getattr(exc, 'problem', None) or exc}") from None
        if not isinstance(d, dict):
            raise ConfigError(
                f"{p} must be a mapping of sections (model:, data:, train: ...), not a {type(d).__name__}"
            )
    d = apply_overrides(d, overrides or [])
    cfg = TrainConfig.from_dict(d)
    cfg.validate()
    return cfg
