"""`python -m training.gpu_run CONFIG`: train for a fixed time on one GPU, leaving app checkpoints.

    PYTHONPATH=. python -m training.gpu_run training/configs/gpu128.yaml --minutes 8
    PYTHONPATH=. python -m training.gpu_run CONFIG --out DIR --minutes 1 --train.batch_size=32

Made for a borrowed machine that is taken back at a hard limit (README, "Training on a GPU
machine"): the output folder is `$OUT` (or `--out`); the run stops on its own before
`--minutes` are up, leaving time for the last checkpoint; every `--checkpoint-every`
seconds it writes the weights in fp16 as app checkpoints of at most `--max-file-mib` each
(shards when the model is bigger, `save_checkpoint_shards`; the app loads any shard), and
only then removes the previous ones, so a run killed even by SIGKILL leaves the last
complete set. SIGTERM or Ctrl-C ends the step and writes a last set. Beside the weights,
`progress.json` says the step, images seen, training and data images/s, losses and the
resolved config. The folder never holds more than `--max-files` files.

Around `Trainer` (the same loop, losses and data as vunet-train): data-loader workers are
the cores but one, each making synthetic people; autocast is bf16 on CUDA (`train.amp:
auto`); the config's `train.init_from` warm-starts only when that checkpoint's config is the
run's (else the run starts fresh, logged; `--init-from` forces one or `none`); the learning
rate is the config's, held for `--decay-from` of the time and then decayed linearly to 0
at the stop. No resume files: the machine keeps nothing, so continue a run by warm-starting
from its checkpoint. Overrides are vunet-train's `--section.key=value`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import Dataset, get_worker_info

from training.config import ConfigError, TrainConfig, load_config
from training.data import DatasetError, build_dataset
from training.synth import textures
from training.trainer import Trainer, TrainingDiverged, TrainingError
from vunet_studio.fileio import DiskFullError, atomic_write_text
from vunet_studio.model import (
    CheckpointError,
    read_checkpoint_info,
    save_checkpoint_shards,
    shard_count,
)

logger = logging.getLogger("gpu-run")

OUT_ENV = "OUT"
PROGRESS_FILE = "progress.json"
MIB = 1 << 20
#: Checkpoint files are model-<step>.safetensors or model-<step>-<i>of<n>.safetensors.
_CHECKPOINT = re.compile(r"^model-(\d{8,})(-\d+of\d+)?\.safetensors$")
#: Progress records kept in progress.json (the oldest go first): it stays a few hundred kB.
HISTORY = 2000


class GpuRunError(Exception):
    """A run that cannot start; the message says why."""


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# --- data throughput ------------------------------------------------------------------------
class TimedDataset(Dataset):
    """`inner` that counts, per loader worker, the items it made and the seconds that took,
    in a shared-memory table, so the main process can tell what the workers can deliver
    (items/s of busy time x workers) apart from what training takes."""

    def __init__(self, inner: Dataset, workers: int) -> None:
        self.inner = inner
        self.length = getattr(inner, "length", None)
        self.table = torch.zeros(max(workers, 1), 2, dtype=torch.float64).share_memory_()  # (W, [items, s])
        self._threads_set = False

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> Any:
        info = get_worker_info()
        if info is not None and not self._threads_set:
            import cv2  # one core per worker: cv2 would otherwise start a thread per core in each

            cv2.setNumThreads(1)
            self._threads_set = True
        t = time.perf_counter()
        item = self.inner[i]
        row = self.table[0 if info is None else info.id]
        row[0] += 1
        row[1] += time.perf_counter() - t
        return item

    def rate(self) -> tuple[int, float]:
        """(items made, items per second the workers make together when all are busy)."""
        items, seconds = self.table[:, 0], self.table[:, 1]
        busy = seconds > 0
        return int(items.sum().item()), float((items[busy] / seconds[busy]).sum().item())


# --- the output folder ----------------------------------------------------------------------
@dataclass
class OutputFolder:
    """The run's checkpoints and progress file; at most `max_files` files at any moment."""

    path: Path
    max_file_bytes: int
    max_files: int
    written: list[Path] = field(default_factory=list)
    step: int = -1

    def check_fresh(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise GpuRunError(f"--out {self.path} is a file, not a folder")
        if self.path.is_dir() and any(
            p.name == PROGRESS_FILE or _CHECKPOINT.match(p.name) for p in self.path.iterdir()
        ):
            raise GpuRunError(f"{self.path} already holds a run: give another --out (or empty it)")

    def check_fits(self, model: torch.nn.Module) -> int:
        """Shards per checkpoint; refuses a model whose two sets (the last one is kept until the
        next is complete) and the progress file with its temporary would pass `max_files`."""
        n = shard_count(model, max_file_bytes=self.max_file_bytes, dtype=torch.float16)
        if 2 * n + 2 > self.max_files:
            raise GpuRunError(
                f"the model's fp16 checkpoint needs {n} files of <= {self.max_file_bytes / MIB:g} MiB; "
                f"keeping the previous set while the next is written needs {2 * n + 2} files, over "
                f"--max-files {self.max_files}: raise --max-files or --max-file-mib, or use a smaller model"
            )
        return n

    def save(self, trainer: Trainer, extra: dict[str, Any]) -> list[Path]:
        """Write the weights as a new set (`prune` then drops the older ones)."""
        if trainer.step == self.step:
            return self.written  # the same weights: keep the set already there
        files = save_checkpoint_shards(
            trainer.model,
            self.path,
            f"model-{trainer.step:08d}",
            max_file_bytes=self.max_file_bytes,
            step=trainer.step,
            extra=extra,
            dtype=torch.float16,
        )
        self.written, self.step = files, trainer.step
        return files

    def prune(self) -> None:
        """Remove every checkpoint file but the last set: older sets, and pieces of a cut write."""
        keep = {p.name for p in self.written}
        for p in self.path.iterdir():
            if _CHECKPOINT.match(p.name) and p.name not in keep:
                with contextlib.suppress(OSError):
                    p.unlink()

    def write_progress(self, record: dict[str, Any]) -> None:
        atomic_write_text(self.path / PROGRESS_FILE, json.dumps(record, indent=1, sort_keys=True) + "\n")


# --- the clock --------------------------------------------------------------------------------
class Clock:
    """The time budget: when to stop (leaving room for the last checkpoint), when to write one,
    and the learning-rate factor (1, then linear to 0 at the stop from `decay_from`)."""

    def __init__(self, start: float, minutes: float, checkpoint_every: float, decay_from: float) -> None:
        self.start = start
        self.deadline = start + minutes * 60.0
        self.checkpoint_every = checkpoint_every
        self.decay_from = decay_from
        self.train_start: float | None = None
        self.last_checkpoint = start
        self.save_seconds = 1.0  # a guess until the first checkpoint is timed
        self.step_seconds: deque[float] = deque(maxlen=50)
        self._last_step: float | None = None

    def stepped(self, now: float) -> None:
        if self._last_step is not None:
            self.step_seconds.append(now - self._last_step)
        else:
            self.train_start = now
        self._last_step = now

    def reserve(self) -> float:
        """Seconds kept for the last step, the last checkpoint and shutting the workers down."""
        step = max(self.step_seconds, default=1.0)
        return 2.0 * self.save_seconds + 2.0 * step + 2.0

    def stop_at(self) -> float:
        return self.deadline - self.reserve()

    def should_stop(self, now: float) -> bool:
        return now >= self.stop_at()

    def lr_factor(self, now: float) -> float:
        if self.train_start is None or self.decay_from >= 1.0:
            return 1.0
        end = self.stop_at()
        begin = self.train_start + self.decay_from * (end - self.train_start)
        if now <= begin or end <= begin:
            return 1.0 if now <= begin else 0.0
        return max(0.0, (end - now) / (end - begin))

    def checkpoint_due(self, now: float) -> bool:
        return self.checkpoint_every > 0 and now - self.last_checkpoint >= self.checkpoint_every


# --- the run ----------------------------------------------------------------------------------
class GpuRun:
    """One timed run: builds the trainer, follows its steps (`on_step`), writes the folder."""

    def __init__(self, cfg: TrainConfig, args: argparse.Namespace, out: OutputFolder, start: float) -> None:
        self.cfg = cfg
        self.args = args
        self.out = out
        self.clock = Clock(start, args.minutes, args.checkpoint_every, args.decay_from)
        self.base_lr = cfg.schedule.lr
        self.history: deque[dict[str, Any]] = deque(maxlen=HISTORY)
        self.losses: deque[float] = deque(maxlen=100)
        self.steps = 0  # steps of this run (a warm start may keep the checkpoint's step count)
        self.last_log = start
        self.last_log_images = 0
        self.status = "starting"
        self.info: dict[str, Any] = {}

    # the trainer calls these two
    def on_step(self, trainer: Trainer, step: int, loss: float) -> None:
        assert isinstance(trainer, GpuTrainer)
        now = time.monotonic()
        self.clock.stepped(now)
        self.steps += 1
        self.losses.append(loss)
        trainer.cfg.schedule.lr = self.base_lr * self.clock.lr_factor(now)
        if now - self.last_log >= self.args.log_every:
            self.log_progress(trainer, now)
        if self.clock.checkpoint_due(now):
            trainer.save()
        if self.clock.should_stop(now):
            logger.info(
                "time is up (%.0f s left for the last checkpoint): stopping", self.clock.deadline - now
            )
            trainer.request_stop("time")

    def save(self, trainer: GpuTrainer) -> Path | None:
        if self.out.written and self.out.step == trainer.step:
            return self.out.written[0]  # written at this step already (a checkpoint, then the stop)
        t = time.monotonic()
        files = self.out.save(trainer, {**trainer.metadata(), **self.summary(trainer, t), "run_dir": None})
        self.clock.save_seconds = max(time.monotonic() - t, 0.05)
        self.clock.last_checkpoint = time.monotonic()
        self.write_progress(trainer)  # names the new set before the old one goes
        self.out.prune()
        logger.info(
            "checkpoint at step %d: %s (%.2f s)",
            trainer.step,
            ", ".join(f"{p.name} {p.stat().st_size / MIB:.1f} MiB" for p in files),
            self.clock.save_seconds,
        )
        return files[0]

    # progress
    def summary(self, trainer: GpuTrainer, now: float) -> dict[str, Any]:
        images = self.steps * trainer.cfg.train.batch_size
        t0 = self.clock.train_start
        trained = (now - t0) if t0 is not None else 0.0
        data_made, data_rate = trainer.timed_data.rate()
        return {
            "step": trainer.step,
            "images_seen": images,
            "elapsed_s": round(now - self.clock.start, 2),
            "train_s": round(trained, 2),
            # From the first step on, so the start-up (CUDA, workers, cudnn's search) stays out.
            "images_per_s": round(images / trained, 2) if trained > 0 else 0.0,
            "data_images_per_s": round(data_rate, 2),
            "data_images_made": data_made,
            "loss": self.losses[-1] if self.losses else None,
            "loss_mean_100": round(sum(self.losses) / len(self.losses), 5) if self.losses else None,
            "lr": trainer.cfg.schedule.lr,
        }

    def log_progress(self, trainer: GpuTrainer, now: float) -> None:
        s = self.summary(trainer, now)
        images = s["images_seen"]
        recent = (images - self.last_log_images) / max(now - self.last_log, 1e-9)
        self.last_log, self.last_log_images = now, images
        s["recent_images_per_s"] = round(recent, 2)
        self.history.append(s)
        logger.info(
            "step %d, %d images, %.1f images/s (%.1f recent), data %.1f images/s, loss %.4g (mean %.4g), "
            "lr %.3g, %.0f s left",
            s["step"],
            images,
            s["images_per_s"],
            recent,
            s["data_images_per_s"],
            s["loss"],
            s["loss_mean_100"],
            s["lr"],
            self.clock.deadline - now,
        )
        self.write_progress(trainer)

    def write_progress(self, trainer: GpuTrainer) -> None:
        record = {
            "status": self.status,
            **self.info,
            **self.summary(trainer, time.monotonic()),
            "checkpoint": [p.name for p in self.out.written],
            "checkpoint_step": self.out.step if self.out.written else None,
            "history": list(self.history),
            "config": self.cfg.to_dict(),
        }
        self.out.write_progress(record)


class GpuTrainer(Trainer):
    """`Trainer` whose checkpoints are the run's fp16 sets in the output folder (no resume
    files: nothing outlives the machine but that folder)."""

    def __init__(self, *a: Any, run: GpuRun, timed_data: TimedDataset, **kw: Any) -> None:
        self.run_ = run
        self.timed_data = timed_data
        super().__init__(*a, dataset=timed_data, on_step=run.on_step, tensorboard=False, **kw)

    def save(self) -> Path | None:
        return self.run_.save(self)


# --- setup --------------------------------------------------------------------------------------
def describe_device(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"device": str(device), "torch": torch.__version__, "cores": cores()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(
            gpu=props.name,
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            cuda=torch.version.cuda,
            bf16=torch.cuda.is_bf16_supported(),
        )
    return info


def choose_init(cfg: TrainConfig, asked: str | None) -> None:
    """Warm-start from `--init-from` as given; from the config's `train.init_from` only when
    that checkpoint exists and its config is exactly this run's."""
    if asked is not None:
        cfg.train.init_from = None if asked.lower() == "none" else asked
        return
    path = cfg.train.init_from
    if not path:
        return
    try:
        theirs = read_checkpoint_info(path).config
    except CheckpointError as exc:
        logger.warning("not warm-starting: %s", exc)
        cfg.train.init_from = None
        return
    if theirs != cfg.model.build():
        logger.info("not warm-starting from %s: its model config differs from this run's", path)
        cfg.train.init_from = None


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog="python -m training.gpu_run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("config", help="YAML config (training/configs/gpu128.yaml, gpu256.yaml)")
    p.add_argument("--out", type=Path, help=f"output folder (default: ${OUT_ENV})")
    p.add_argument("--minutes", type=float, default=8.0, help="wall-clock budget, start-up included (8)")
    p.add_argument("--checkpoint-every", type=float, default=60.0, help="seconds between checkpoints (60)")
    p.add_argument("--max-file-mib", type=float, default=16.0, help="largest file in the folder (16)")
    p.add_argument("--max-files", type=int, default=8, help="most files in the folder at any moment (8)")
    p.add_argument("--workers", type=int, help="data-loader workers (default: the cores but one)")
    p.add_argument("--init-from", help="warm start from this checkpoint, or 'none' (default: see above)")
    p.add_argument(
        "--decay-from",
        type=float,
        default=0.5,
        help="share of the time at constant lr before the decay (0.5)",
    )
    p.add_argument("--log-every", type=float, default=10.0, help="seconds between progress lines (10)")
    p.add_argument("-v", "--verbose", action="store_true")
    args, extra = p.parse_known_args(argv)
    for item in extra:
        if not (item.startswith("--") and "=" in item and "." in item.split("=", 1)[0]):
            p.error(f"unrecognised argument {item!r} (config overrides are --section.key=value)")
    if args.minutes <= 0 or args.max_file_mib <= 0 or args.max_files < 4 or not 0 <= args.decay_from <= 1:
        p.error("--minutes and --max-file-mib must be positive, --max-files >= 4, --decay-from in [0, 1]")
    return args, extra


def run(argv: list[str] | None = None) -> int:
    start = time.monotonic()
    args, overrides = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    out_path = args.out or (Path(os.environ[OUT_ENV]) if os.environ.get(OUT_ENV) else None)
    if out_path is None:
        logger.error("no output folder: give --out DIR or set $%s", OUT_ENV)
        return 2
    work = Path(tempfile.mkdtemp(prefix="vunet-gpu-run-"))  # the trainer's config.yaml only
    out = OutputFolder(out_path, int(args.max_file_mib * MIB), args.max_files)
    gpu_run: GpuRun | None = None
    trainer: GpuTrainer | None = None
    try:
        cfg = load_config(args.config, overrides)
        out.check_fresh()
        choose_init(cfg, args.init_from)
        workers = args.workers if args.workers is not None else max(cores() - 1, 0)
        cfg.data.num_workers = workers
        cfg.train.checkpoint_every = 0  # checkpoints go by time, below
        # Logs how many photos the synthetic people get, or that procedural textures stand in.
        photos = textures.photos(cfg.data.texture_dir) if cfg.data.kind == "synth" else ()
        dataset = TimedDataset(build_dataset(cfg.data, cfg.model.build()), workers)
        gpu_run = GpuRun(cfg, args, out, start)
        trainer = GpuTrainer(cfg, work, run=gpu_run, timed_data=dataset)
        n_shards = out.check_fits(trainer.model)
        if trainer.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick its fastest convs
            torch.backends.cuda.matmul.allow_tf32 = True
        else:
            logger.warning("no CUDA device: training on the CPU (a check of the command, not a run)")
        gpu_run.info = {
            **describe_device(trainer.device),
            "amp": str(trainer.amp).replace("torch.", "") if trainer.amp else "none",
            "workers": workers,
            "batch_size": cfg.train.batch_size,
            "config_file": str(args.config),
            "init_from": cfg.train.init_from,
            "textures": len(photos),
            "shards": n_shards,
            "minutes": args.minutes,
            "base_lr": gpu_run.base_lr,
        }
        out.path.mkdir(parents=True, exist_ok=True)
        logger.info(
            "%s, autocast %s, %d workers, batch %d, warm start %s, %s, %d texture photos; "
            "checkpoints every %.0f s in %s (%d file(s) of <= %g MiB)",
            gpu_run.info.get("gpu", trainer.device),
            gpu_run.info["amp"],
            workers,
            cfg.train.batch_size,
            cfg.train.init_from or "none",
            trainer.model_cfg,
            len(photos),
            args.checkpoint_every,
            out.path,
            n_shards,
            args.max_file_mib,
        )
        gpu_run.status = "running"
        gpu_run.write_progress(trainer)
        result = trainer.run()
    except (ConfigError, GpuRunError, TrainingError, DatasetError) as exc:
        if gpu_run is not None and trainer is not None:
            gpu_run.status = "failed" if not isinstance(exc, TrainingDiverged) else "diverged"
            with contextlib.suppress(OSError):
                gpu_run.write_progress(trainer)
        logger.error("%s", exc)
        return 3 if isinstance(exc, TrainingDiverged) else 2
    except DiskFullError as exc:
        logger.error("%s", exc)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    gpu_run.status = result.stopped
    gpu_run.log_progress(trainer, time.monotonic())
    s = gpu_run.summary(trainer, time.monotonic())
    logger.info(
        "stopped (%s) at step %d after %.0f s: %d images, %.1f images/s (data %.1f); weights %s",
        result.stopped,
        result.step,
        s["elapsed_s"],
        s["images_seen"],
        s["images_per_s"],
        s["data_images_per_s"],
        ", ".join(p.name for p in out.written) or "none",
    )
    return 130 if result.stopped == "interrupted" else 0


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
