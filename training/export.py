"""`vunet-export`: turn a resume file into the app's `.safetensors` checkpoint.

vunet-export RUN_DIR/resume/resume-00050000.pt -o model.safetensors [--fp16]
vunet-export RUN_DIR -o model.safetensors        (the run's newest resume file)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import torch

from training.checkpoints import ResumeError, latest_resume_file, load_resume
from vunet_studio.fileio import DiskFullError
from vunet_studio.model import CheckpointError, VUNet, VUNetConfig, load_checkpoint, save_checkpoint

logger = logging.getLogger("vunet-export")


class CheckpointExportError(Exception):
    """A resume file that cannot become a checkpoint (or a checkpoint that does not load
    back); not `vunet_studio.exports.ExportError`, which is about the user's image and pose files."""


def export_resume(resume: str | Path, out: str | Path, *, fp16: bool = False) -> Path:
    """Rebuild the model from the resume file's config and weights and save it as safetensors."""
    path = Path(resume)
    if path.is_dir():
        found = latest_resume_file(path)
        if found is None:
            raise CheckpointExportError(f"{path}: no resume files in {path / 'resume'}")
        path = found
    try:
        state = load_resume(path)
        cfg = VUNetConfig.from_dict(json.loads(state["model_config"]))
        model = VUNet(cfg)
        model.load_state_dict(state["model"], strict=True)
    except ResumeError as exc:
        raise CheckpointExportError(str(exc)) from exc
    except (ValueError, RuntimeError, KeyError) as exc:
        raise CheckpointExportError(f"{path}: weights do not match the stored config ({exc})") from exc
    extra = {"loss": state.get("loss", "unknown"), "exported_from": path.name}
    out = save_checkpoint(
        model, out, step=int(state["step"]), extra=extra, dtype=torch.float16 if fp16 else None
    )
    try:  # read it back: an export the app cannot load is worse than none
        load_checkpoint(out)
    except CheckpointError as exc:
        raise CheckpointExportError(f"the written file does not load back: {exc}") from exc
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="vunet-export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("resume", type=Path, help="a resume file (resume-N.pt) or a run directory")
    p.add_argument("-o", "--out", type=Path, required=True, help="output .safetensors")
    p.add_argument("--fp16", action="store_true", help="store float16 weights (half the size)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        out = export_resume(args.resume, args.out, fp16=args.fp16)
    except CheckpointExportError as exc:
        logger.error("%s", exc)
        return 2
    except DiskFullError as exc:  # the earlier file at --out is unchanged
        logger.error("%s", exc)
        return 1
    except OSError as exc:
        logger.error("cannot write %s: %s", exc.filename or args.out, exc.strerror or exc)
        return 1
    logger.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
