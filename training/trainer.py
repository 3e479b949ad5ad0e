"""The training loop: optimiser, schedules, mixed precision, checkpoints, exact resume, DDP.

The model only computes (`VUNet.forward` -> image, KL); losses live in `training.losses`,
schedules in `training.schedules`, resume files in `training.checkpoints`. One `Trainer`
runs one process (one rank under torchrun); rank 0 alone writes files and logs.

Files in RUN_DIR:
  config.yaml          the resolved config (written at start; `loss.used` says which loss ran)
  resume/resume-N.pt   model + optimiser + step + RNG states + data position (newest N kept)
  model.safetensors    the latest weights for the app (`save_checkpoint`), at every checkpoint
  tb/                  TensorBoard scalars and image grids
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import Dataset

from training.checkpoints import (
    ResumeError,
    latest_resume_file,
    load_resume,
    rng_state,
    save_resume,
    set_rng_state,
)
from training.config import TrainConfig
from training.data import DatasetError, UnreadableGuard, build_dataset, make_loader
from training.losses import ReconstructionLoss
from training.schedules import kl_weight, learning_rate
from vunet_studio.devices import DeviceError, autocast_dtype, resolve_device
from vunet_studio.fileio import atomic_write_text
from vunet_studio.model import VUNet, load_checkpoint, save_checkpoint
from vunet_studio.model.config import VUNetConfig

logger = logging.getLogger(__name__)


class TrainingError(Exception):
    """A run that cannot start or continue; the message says why (no traceback needed)."""


class TrainingDiverged(TrainingError):
    """The loss became NaN or inf; the last good checkpoint is left in place."""


@dataclass
class TrainResult:
    step: int
    losses: list[float] = field(default_factory=list)  # total loss per step of this process
    stopped: str = "done"  # "done", "interrupted", "max_steps"
    skipped_images: int = 0
    resume_path: Path | None = None


def _to(x: Tensor, device: torch.device, channels_last: bool) -> Tensor:
    x = x.to(device, non_blocking=True)
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


_MODULATION_KEYS = ("enc_down.summary.", "dec_down.films.")


def _with_more_inputs(state: dict[str, torch.Tensor], key: str, channels: int) -> dict[str, torch.Tensor]:
    """A state dict whose first 1x1 conv `key` (a weight-norm V) is widened to `channels` inputs.

    The new input channels get zero weights: weight norm divides by ‖V‖, which zeros leave
    unchanged, so the widened model computes exactly what the old one did until training
    moves them. Used to grow F_phi into the scene input and E_theta into the warped parts.
    """
    v = state[key]  # (C0, C_in, 1, 1)
    state = dict(state)
    state[key] = torch.cat([v, v.new_zeros(v.shape[0], channels - v.shape[1], *v.shape[2:])], dim=1)
    return state


class Trainer:
    """One process of a training run. `run()` trains until `train.steps`, a stop request
    (Ctrl-C, SIGTERM, `request_stop()`) or `train.max_steps_this_run`, saving resume files."""

    def __init__(
        self,
        cfg: TrainConfig,
        run_dir: str | Path,
        *,
        resume: bool = False,
        dataset: Dataset | None = None,
        progress: bool = False,
        tensorboard: bool = True,
        on_step: Callable[[Trainer, int, float], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.run_dir = Path(run_dir)
        self.progress = progress
        self.on_step = on_step
        self.distributed = dist.is_available() and dist.is_initialized()
        self.rank = dist.get_rank() if self.distributed else 0
        self.world = dist.get_world_size() if self.distributed else 1
        self.is_main = self.rank == 0
        t = cfg.train
        if t.threads > 0:
            torch.set_num_threads(t.threads)
        try:
            self.device = resolve_device(t.device)
        except DeviceError as exc:
            raise TrainingError(f"train.device: {exc}") from None
        if self.distributed and self.device.type == "cuda":
            self.device = torch.device("cuda", torch.cuda.current_device())
        try:
            self.amp = autocast_dtype(t.amp, self.device)
        except DeviceError as exc:
            raise TrainingError(f"train.amp: {exc}") from None
        self.channels_last = t.channels_last if t.channels_last is not None else self.device.type == "cuda"
        self.model_cfg: VUNetConfig = cfg.model.build()
        self._stop_reason: str | None = None

        torch.manual_seed(t.seed * 1000 + self.rank)
        self.model = VUNet(self.model_cfg)
        self.loss_fn = ReconstructionLoss(cfg.loss)
        cfg.loss.used = self.loss_fn.loss_name
        try:
            self.dataset = dataset if dataset is not None else build_dataset(cfg.data, self.model_cfg)
        except DatasetError as exc:
            raise TrainingError(f"data.path: {exc}") from None

        self.step = 0
        self.batches_drawn = 0
        self.skipped_images = 0
        state: dict[str, Any] | None = None
        if resume:
            path = latest_resume_file(self.run_dir)
            if path is None:
                raise TrainingError(f"--resume: no resume file in {self.run_dir / 'resume'}")
            try:
                state = load_resume(path)
            except ResumeError as exc:
                raise TrainingError(str(exc)) from exc
            saved_cfg = VUNetConfig.from_dict(json.loads(state["model_config"]))
            if saved_cfg != self.model_cfg:
                raise TrainingError(
                    f"{path}: the model config differs from this run's ({saved_cfg} vs {self.model_cfg})"
                )
            self.model.load_state_dict(state["model"])
            self.step = int(state["step"])
            self.batches_drawn = int(state.get("batches_drawn", self.step))
            self.skipped_images = int(state.get("skipped_images", 0))
            logger.info("resuming from %s at step %d", path, self.step)
        elif t.init_from:
            self._warm_start(Path(t.init_from))

        self.model.to(self.device)
        if self.channels_last:
            self.model.to(memory_format=torch.channels_last)
        self.loss_fn.to(self.device)
        # The alpha head learns a new task from scratch beside weights that are already fitted
        # (a warm start): at their learning rate its weight-norm gain alone would need
        # thousands of steps to reach confident logits, so it gets its own (lr_scale).
        alpha_params = list(self.model.alpha_head.parameters()) if self.model.alpha_head is not None else []
        alpha_ids = {id(p) for p in alpha_params}
        groups: list[dict[str, Any]] = [
            {"params": [p for p in self.model.parameters() if id(p) not in alpha_ids], "lr_scale": 1.0}
        ]
        if alpha_params:
            groups.append({"params": alpha_params, "lr_scale": cfg.optim.alpha_lr_scale})
        self.optimizer = torch.optim.Adam(
            groups, lr=cfg.schedule.lr, betas=(cfg.optim.beta1, cfg.optim.beta2)
        )
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            if self.scaler is not None and "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
            set_rng_state(state["rng"])
        self._needs_init = state is None and not t.init_from

        self.net: nn.Module = self.model
        self._ddp_device_ids = [self.device.index] if self.device.type == "cuda" else None

        self.writer: Any = None
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(self.run_dir / "config.yaml", self._resolved_yaml())
            if tensorboard:
                from torch.utils.tensorboard import SummaryWriter

                # purge_step drops the events at and after it that an interrupted run logged
                # past its resume file; the resume step's own were logged before the save, so keep them.
                self.writer = SummaryWriter(
                    str(self.run_dir / "tb"), purge_step=self.step + 1 if self.step else None
                )

    # --- setup helpers --------------------------------------------------------------
    def _resolved_yaml(self) -> str:
        """The config as it runs; the per-invocation stop (max_steps_this_run) is left out so
        `--resume` from RUN_DIR/config.yaml does not inherit it."""
        d = self.cfg.to_dict()
        d["train"]["max_steps_this_run"] = 0
        return TrainConfig.from_dict(d).to_yaml()

    def _warm_start(self, path: Path) -> None:
        try:
            src, info = load_checkpoint(path)
        except Exception as exc:
            raise TrainingError(f"--init_from: {exc}") from exc
        state = src.state_dict()
        mine = self.model_cfg
        # Growing into the scene input, modulation or warped parts keeps what the checkpoint computes.
        grown = dataclasses.replace(
            info.config,
            scene_context=info.config.scene_context or mine.scene_context,
            modulation=info.config.modulation or mine.modulation,
            warped_parts=info.config.warped_parts or mine.warped_parts,
            alpha=info.config.alpha or mine.alpha,
        )
        if grown != mine:
            raise TrainingError(
                f"--init_from {path}: its model config differs from this run's ({info.config})"
            )
        if mine.scene_context and not info.config.scene_context:
            state = _with_more_inputs(state, "enc_up.inp.v", mine.appearance_channels)
            logger.info("warm start adds the scene input to F_phi (its weights start at zero)")
        if mine.warped_parts and not info.config.warped_parts:
            state = _with_more_inputs(state, "dec_up.inp.v", mine.shape_channels)
            logger.info("warm start adds the warped parts to E_theta (their weights start at zero)")
        if mine.alpha and not info.config.alpha:
            fresh = self.model.state_dict()
            state = {**{k: v for k, v in fresh.items() if k.startswith("alpha_head.")}, **state}
            logger.info("warm start adds the alpha head (it starts untrained)")
        if mine.modulation and not info.config.modulation:
            fresh = self.model.state_dict()
            state = {**{k: v for k, v in fresh.items() if k.startswith(_MODULATION_KEYS)}, **state}
            logger.info("warm start adds appearance modulation (it starts at zero)")
        self.model.load_state_dict(state)
        if self.cfg.train.init_keep_step:
            self.step = info.step
        logger.info(
            "warm start from %s (checkpoint step %d), starting at step %d", path, info.step, self.step
        )

    def _loader_iter(self, start_batches: int) -> Iterator[dict[str, Any]]:
        t = self.cfg.train
        loader = make_loader(
            self.dataset,
            t.batch_size,
            seed=self.cfg.data.seed,
            start=start_batches * t.batch_size * self.world,
            num_workers=self.cfg.data.num_workers,
            rank=self.rank,
            world=self.world,
        )
        return iter(loader)

    def _unreadable_guard(self) -> UnreadableGuard:
        return UnreadableGuard(getattr(self.dataset, "length", None), self.cfg.data.path or "the dataset")

    def _data_dependent_init(self) -> None:
        n = self.cfg.train.init_batches
        it = self._loader_iter(0)
        batches: list[tuple[Tensor, Tensor]] = []
        guard = self._unreadable_guard()
        while len(batches) < n:
            b = next(it)
            self._check_unreadable(guard, b)
            if b["parts"] is not None:
                batches.append((_to(b["parts"], self.device, False), _to(b["shape"], self.device, False)))
        del it
        self.model.data_dependent_init(batches)

    def _check_unreadable(self, guard: UnreadableGuard, batch: dict[str, Any]) -> None:
        good = 0 if batch["parts"] is None else int(batch["parts"].shape[0])
        try:
            guard.add(int(batch["skipped"]), good)
        except DatasetError as exc:
            raise TrainingError(str(exc)) from None

    # --- stopping ---------------------------------------------------------------------
    def request_stop(self, reason: str = "interrupted") -> None:
        self._stop_reason = reason

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """Ctrl-C / SIGTERM finish the current step, save a resume file and stop."""
        old: dict[signal.Signals, Any] = {}

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stop_reason is not None and signum == signal.SIGINT:
                raise KeyboardInterrupt  # a second Ctrl-C: stop now (resume files are atomic)
            logger.warning("%s received: saving a resume file after this step", signal.Signals(signum).name)
            self.request_stop("interrupted")

        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                old[sig] = signal.signal(sig, handler)
        except ValueError:  # not the main thread: no signal handling
            old.clear()
        try:
            yield
        finally:
            for sig, h in old.items():
                signal.signal(sig, h)

    # --- checkpoints ----------------------------------------------------------------
    def save(self) -> Path | None:
        """Resume file + model.safetensors (rank 0 only; from the unwrapped module)."""
        if not self.is_main:
            return None
        state = {
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "batches_drawn": self.batches_drawn,
            "skipped_images": self.skipped_images,
            "rng": rng_state(),
            "model_config": json.dumps(self.model_cfg.to_dict(), sort_keys=True),
            "config_yaml": self.cfg.to_yaml(),
            "loss": self.loss_fn.loss_name,
        }
        if self.scaler is not None:
            state["scaler"] = self.scaler.state_dict()
        path = save_resume(self.run_dir, state, self.step, self.cfg.train.keep_last)
        self.export_safetensors(self.run_dir / "model.safetensors")
        logger.info("saved %s and model.safetensors at step %d", path, self.step)
        return path

    def export_safetensors(self, path: Path) -> None:
        save_checkpoint(self.model, path, step=self.step, extra=self.metadata())

    def metadata(self) -> dict[str, Any]:
        s = self.cfg.schedule
        return {
            "loss": self.loss_fn.loss_name,
            "kl_weight": kl_weight(self.step, s),
            "data": self.cfg.data.kind,
            "batch_size": self.cfg.train.batch_size * self.world,
            "run_dir": str(self.run_dir),
        }

    # --- the loop -------------------------------------------------------------------
    def run(self) -> TrainResult:
        t = self.cfg.train
        if self._needs_init:
            self._data_dependent_init()
            logger.info("data-dependent init done on %d batches", t.init_batches)
        if self.distributed:
            from torch.nn.parallel import DistributedDataParallel as DDP

            # Every parameter gets a gradient in the training forward (the prior is teacher-forced),
            # so DDP needs no per-step search for unused ones; tests/test_training_ddp.py checks it.
            self.net = DDP(self.model, device_ids=self._ddp_device_ids)
        result = TrainResult(step=self.step)
        if self.step >= t.steps:
            logger.info("already at step %d of %d: nothing to do", self.step, t.steps)
            return result
        data = self._loader_iter(self.batches_drawn)
        bar = None
        if self.progress and self.is_main:
            from tqdm import tqdm

            bar = tqdm(total=t.steps, initial=self.step, unit="step", dynamic_ncols=True)
        start_step = self.step
        window_t, window_imgs = time.perf_counter(), 0
        last_good: dict[str, Any] | None = None
        self.model.train()
        guard = self._unreadable_guard()
        with self._signals():
            try:
                while self.step < t.steps:
                    batch = next(data)
                    self.batches_drawn += 1
                    before = self.skipped_images
                    self.skipped_images += int(batch["skipped"])
                    # Rate-limited: at 1, 2, 4, 8, ... skipped images.
                    if self.skipped_images.bit_length() > before.bit_length():
                        logger.warning("%d unreadable image(s) skipped so far", self.skipped_images)
                    self._check_unreadable(guard, batch)
                    if batch["parts"] is None:
                        if last_good is None:
                            if self._stop_reason is not None and not self.distributed:
                                break  # a stop request while nothing could be read yet
                            continue
                        batch = last_good  # keep all ranks stepping together
                    last_good = batch
                    total, logs = self._train_step(batch)
                    result.losses.append(total)
                    self.step += 1
                    n = batch["image"].shape[0] * self.world
                    window_imgs += n
                    if self.is_main:
                        now = time.perf_counter()
                        ips = window_imgs / max(now - window_t, 1e-9)
                        if bar is not None:
                            bar.update(1)
                            bar.set_postfix(
                                loss=f"{total:.4g}", kl_w=f"{logs['kl_weight']:.2g}", img_s=f"{ips:.1f}"
                            )
                        if self.writer is not None and self.step % t.log_every == 0:
                            for k, v in logs.items():
                                self.writer.add_scalar(f"train/{k}", v, self.step)
                            self.writer.add_scalar("train/images_per_s", ips, self.step)
                            self.writer.add_scalar("train/skipped_images", self.skipped_images, self.step)
                            window_t, window_imgs = now, 0
                        if self.writer is not None and t.image_every and self.step % t.image_every == 0:
                            self._log_images(batch)
                    if self.on_step is not None:
                        self.on_step(self, self.step, total)
                    if t.checkpoint_every and self.step % t.checkpoint_every == 0 and self.step < t.steps:
                        self.save()
                    if t.max_steps_this_run and self.step - start_step >= t.max_steps_this_run:
                        self.request_stop("max_steps")
                    if self._agree_stop():
                        break
            finally:
                if bar is not None:
                    bar.close()
        result.step = self.step
        result.skipped_images = self.skipped_images
        result.stopped = self._stop_reason or "done"
        result.resume_path = self.save()
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()
        return result

    def _agree_stop(self) -> bool:
        """All ranks stop at the same step (a signal may reach them a step apart)."""
        flag = self._stop_reason is not None
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        if t.item() > 0 and self._stop_reason is None:
            self._stop_reason = "interrupted"
        return t.item() > 0

    def _train_step(self, batch: dict[str, Any]) -> tuple[float, dict[str, float]]:
        cfg = self.cfg
        parts = _to(batch["parts"], self.device, self.channels_last)  # (B, 24 or 27, P, P)
        shape = _to(batch["shape"], self.device, self.channels_last)  # (B, 3 or 7, S, S)
        image = _to(batch["image"], self.device, self.channels_last)  # (B, 3, S, S)
        lr = learning_rate(self.step, cfg.schedule)
        klw = kl_weight(self.step, cfg.schedule)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)
        ctx = (
            torch.autocast(self.device.type, dtype=self.amp)
            if self.amp is not None
            else contextlib.nullcontext()
        )
        with ctx:
            out = self.net(parts, shape)
            mask = batch.get("mask")
            rec, terms = self.loss_fn(
                out.image, image, None if mask is None else mask.to(self.device), alpha=out.alpha
            )
        kl = out.kl.float().mean()
        total = rec + klw * kl
        bad = torch.tensor([0.0 if torch.isfinite(total).item() else 1.0])
        if self.distributed:
            dist.all_reduce(bad, op=dist.ReduceOp.MAX)
        if bad.item() > 0:
            last = latest_resume_file(self.run_dir)
            raise TrainingDiverged(
                f"the loss became {total.item()} at step {self.step} (reconstruction {rec.item():.4g}, "
                f"KL {kl.item():.4g}); stopping. The last good checkpoint is kept: "
                f"{last if last is not None else 'none saved yet'}. Try a lower schedule.lr or optim.grad_clip."
            )
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(total).backward()
            self.scaler.unscale_(self.optimizer)
        else:
            total.backward()
        if cfg.optim.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        logs = {
            "loss": total.item(),
            "reconstruction": rec.item(),
            "kl": kl.item(),
            "kl_weight": klw,
            "lr": lr,
            **{f"loss_{k}": v.item() for k, v in terms.items()},
        }
        if not math.isfinite(logs["loss"]):  # pragma: no cover - caught above
            raise TrainingDiverged("non-finite loss")
        self._last_output = out.image.detach()
        return logs["loss"], logs

    @torch.no_grad()
    def _log_images(self, batch: dict[str, Any]) -> None:
        """A grid: per sample (up to 8) the target image, its stickman, the warped parts (models
        with `warped_parts`) and the output. (For a re-posing pair the target is not the image
        F_phi saw.)"""
        from torchvision.utils import make_grid

        n = min(8, batch["image"].shape[0])
        out = self._last_output[:n].float().cpu().clamp(-1, 1)  # (n, 3, S, S)
        shape = batch["shape"][:n]  # (n, 3 or 7, S, S)
        columns = [batch["image"][:n], shape[:, :3]] + ([shape[:, 3:6]] if shape.shape[1] > 3 else []) + [out]
        rows = torch.stack(columns, dim=1).flatten(0, 1)  # (n * columns, 3, S, S)
        grid = make_grid((rows + 1) / 2, nrow=len(columns))  # (3, H', W') in [0, 1]
        self.writer.add_image("train/target_stickman_output", grid, self.step)
