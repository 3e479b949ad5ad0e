"""`vunet-train`: train a VUNet from a YAML config.

    vunet-train training/configs/synth128.yaml --out runs/synth128
    vunet-train training/configs/synth128.yaml --out runs/synth128 --resume
    vunet-train CONFIG.yaml --model.base_channels=16 --train.batch_size=8 --init_from=w.safetensors
    torchrun --nproc_per_node=2 -m training.train CONFIG.yaml --out RUN_DIR

Overrides are `--section.key=value` (YAML values); a bare `--key=value` is a `train.` key
(`--init_from=...`, `--steps=...`, `--device=cpu`). With `--resume` and no CONFIG, the run's
own RUN_DIR/config.yaml is used. Ctrl-C or SIGTERM saves a resume file and exits.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import logging
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from training.checkpoints import latest_resume_file
from training.config import ConfigError, TrainSection, load_config
from training.runlock import RunLock, RunLockedError
from training.trainer import Trainer, TrainingDiverged, TrainingError
from vunet_studio.fileio import DiskFullError

logger = logging.getLogger("vunet-train")

_TRAIN_KEYS = {f.name for f in dataclasses.fields(TrainSection)}


def _split_overrides(extra: list[str]) -> list[str]:
    out = []
    for item in extra:
        if not item.startswith("--") or "=" not in item:
            raise ConfigError(f"unrecognised argument {item!r} (overrides are --section.key=value)")
        key = item[2:].split("=", 1)[0]
        if "." not in key:
            if key not in _TRAIN_KEYS:
                raise ConfigError(f"unknown option --{key} (did you mean --train.{key} or --model.{key}?)")
            item = f"--train.{item[2:]}"
        out.append(item)
    return out


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    p = argparse.ArgumentParser(
        prog="vunet-train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("config", nargs="?", help="YAML config (optional with --resume)")
    p.add_argument("--out", type=Path, help="run directory (default: runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from the newest resume file in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("-v", "--verbose", action="store_true")
    args, extra = p.parse_known_args(argv)
    return args, _split_overrides(extra)


def _init_distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return dist.get_rank(), world


def main(argv: list[str] | None = None) -> int:
    try:
        args, overrides = parse_args(argv)
    except ConfigError as exc:
        # A usage error, reported as argparse reports its own: logging is set up from these arguments.
        print(f"vunet-train: {exc}", file=sys.stderr)  # noqa: T201 - before logging exists
        return 2
    rank, world = _init_distributed()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO if rank == 0 else logging.WARNING,
        format=f"%(asctime)s %(levelname)s{f' [rank {rank}]' if world > 1 else ''} %(name)s: %(message)s",
    )
    try:
        config_path = args.config
        if config_path is None:
            if not (args.resume and args.out):
                raise ConfigError("give a CONFIG.yaml (or --resume --out RUN_DIR to continue a run)")
            config_path = args.out / "config.yaml"
        if args.resume and args.config is None and not Path(config_path).is_file():
            raise ConfigError(f"--resume: {args.out} holds no run (no {config_path})")
        cfg = load_config(config_path, overrides)
        run_dir = args.out or Path("runs") / Path(config_path).stem
        # Rank 0 alone writes the run's files, so it alone holds the folder's lock.
        with RunLock(run_dir) if rank == 0 else contextlib.nullcontext():
            if not args.resume and latest_resume_file(run_dir) is not None:
                raise TrainingError(
                    f"{run_dir} already holds a run: pass --resume to continue it, or another --out"
                )
            trainer = Trainer(cfg, run_dir, resume=args.resume, progress=not args.no_progress)
            logger.info(
                "run %s: %s on %s (world %d), loss %s, amp %s",
                run_dir,
                trainer.model_cfg,
                trainer.device,
                world,
                trainer.loss_fn.loss_name,
                trainer.amp,
            )
            result = trainer.run()
    except TrainingDiverged as exc:
        logger.error("%s", exc)
        return 3
    except (ConfigError, TrainingError, RunLockedError) as exc:
        logger.error("%s", exc)
        return 2
    except DiskFullError as exc:
        logger.error("%s", exc)
        return 1
    except OSError as exc:  # a run folder that cannot be written (permissions, a file in the way)
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            logger.error("%s", DiskFullError(exc.filename or args.out or "runs", exc.errno))
        else:
            logger.error("cannot write %s: %s", exc.filename or "the run folder", exc.strerror or exc)
        return 1
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    logger.info(
        "stopped at step %d (%s); resume file %s; %d unreadable images skipped",
        result.step,
        result.stopped,
        result.resume_path,
        result.skipped_images,
    )
    return 130 if result.stopped == "interrupted" else 0


if __name__ == "__main__":
    sys.exit(main())
