"""`training.gpu_run`: the timed GPU trainer, run on the CPU with a tiny model.

The whole command on `training/configs/gpu128.yaml` made tiny by overrides: the folder's
files (count, size cap forcing shards), that a checkpoint loads and renders through the
engine, that SIGTERM leaves weights, and that a write cut off (as by SIGKILL) leaves the
previous set loadable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from _training_helpers import TINY_MODEL, tiny_model_config

import training.gpu_run as gpu_run
from training.config import load_config
from training.synth import sample
from vunet_studio.engine import AppearanceImage, RenderEngine
from vunet_studio.model import CheckpointError, VUNet, load_checkpoint, shard_count

REPO = Path(__file__).resolve().parents[1]
GPU128 = REPO / "training" / "configs" / "gpu128.yaml"
CAP_MIB = 0.4  # the tiny model's 0.74 MB of fp16 weights need 2-3 files of this size
TINY_ON = [
    *(f"--model.{k}={v}" for k, v in TINY_MODEL.items()),
    "--train.batch_size=2",
    "--train.init_batches=1",
    "--train.threads=1",
    "--loss.kind=pixel",
    f"--max-file-mib={CAP_MIB}",
]
TINY_ARGS = [*TINY_ON, "--train.device=cpu"]


def progress(folder: Path) -> dict[str, Any]:
    return json.loads((folder / gpu_run.PROGRESS_FILE).read_text())


@pytest.mark.slow
def test_timed_run_leaves_sharded_checkpoints_that_render(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    monkeypatch.setenv(gpu_run.OUT_ENV, str(out))  # the folder comes from $OUT
    counts: list[int] = []
    for name in ("save", "prune", "write_progress"):
        method = getattr(gpu_run.OutputFolder, name)

        def counted(self: gpu_run.OutputFolder, *a: Any, _m: Any = method) -> Any:
            result = _m(self, *a)
            counts.append(len(list(self.path.iterdir())))
            return result

        monkeypatch.setattr(gpu_run.OutputFolder, name, counted)
    t = time.monotonic()
    minutes = 0.2
    rc = gpu_run.run(
        [
            str(GPU128),
            f"--minutes={minutes}",
            "--checkpoint-every=2",
            "--log-every=1",
            "--workers=0",
            *TINY_ARGS,
        ]
    )
    assert rc == 0
    assert time.monotonic() - t < minutes * 60 + 1  # it stops on its own, inside its budget
    files = sorted(out.iterdir())
    shards = [p for p in files if p.suffix == ".safetensors"]
    info = progress(out)
    assert len(shards) == info["shards"] >= 2
    assert len(files) == len(shards) + 1
    assert all(p.stat().st_size <= CAP_MIB * 2**20 for p in files)
    assert max(counts) <= 8 - 1  # with the temporary file of the write in progress: <= 8
    assert len(counts) > 6  # several checkpoints were written and replaced
    assert info["status"] == "time"
    assert info["step"] > 0
    assert info["checkpoint"] == [p.name for p in shards]
    assert info["images_seen"] == 2 * info["step"]
    assert info["images_per_s"] > 0
    assert info["data_images_per_s"] > 0
    assert info["init_from"] is None
    assert len(info["history"]) >= 2
    assert info["config"]["model"]["overrides"]["alpha"] is True
    model, ckpt = load_checkpoint(shards[-1])
    assert ckpt.step == info["step"]
    assert ckpt.stored_dtype == "float16"
    assert model.config.alpha
    engine = RenderEngine(shards[0], device="cpu", precision="fp32", threads=1, warmup=False)
    person = sample(5, 128)
    render = engine.render(engine.encode(AppearanceImage(person.image, person.pose)), person.pose)
    assert render.image.shape == (128, 128, 3)
    assert render.image.std() > 0
    assert render.alpha is not None
    assert np.isfinite(render.alpha).all()


@pytest.mark.slow
def test_sigterm_leaves_loadable_weights(tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "training.gpu_run", str(GPU128), "--out", str(out), "--minutes=2",
           "--workers=1", "--log-every=0.5", *TINY_ARGS]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            p = out / gpu_run.PROGRESS_FILE
            if p.is_file() and progress(out)["step"] >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()[0]
        proc.send_signal(signal.SIGTERM)
        log = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 130, log
    info = progress(out)
    assert info["status"] == "interrupted", log
    assert info["data_images_per_s"] > 0, log
    _model, ckpt = load_checkpoint(out / info["checkpoint"][0])
    assert ckpt.step == info["step"] >= 3


class _Stepper:
    """What `OutputFolder.save` needs of a trainer."""

    def __init__(self, model: VUNet, step: int) -> None:
        self.model, self.step = model, step


def test_cut_off_write_keeps_the_previous_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = VUNet(tiny_model_config())  # 2 shards at this cap
    out = gpu_run.OutputFolder(tmp_path, int(CAP_MIB * 2**20), 8)
    first = out.save(_Stepper(model, 10), {})  # type: ignore[arg-type]
    out.prune()
    import vunet_studio.model.checkpoint as checkpoint

    real, calls = checkpoint.save_file, []

    def dies_on_second(tensors: dict[str, torch.Tensor], path: str, metadata: dict[str, str]) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the process ends here, as under SIGKILL
        real(tensors, path, metadata=metadata)

    monkeypatch.setattr(checkpoint, "save_file", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        out.save(_Stepper(model, 20), {})  # type: ignore[arg-type]
    assert load_checkpoint(first[1])[1].step == 10
    (cut,) = tmp_path.glob("model-00000020-1of*.safetensors")
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(cut)


def test_refuses_a_model_whose_sets_would_pass_the_file_limit(tmp_path: Path) -> None:
    model = VUNet(tiny_model_config())
    cap = int(CAP_MIB * 2**20)
    n = shard_count(model, max_file_bytes=cap, dtype=torch.float16)
    assert n >= 2
    with pytest.raises(gpu_run.GpuRunError, match=f"needs {n} files"):
        gpu_run.OutputFolder(tmp_path, cap, 2 * n + 1).check_fits(model)
    assert gpu_run.OutputFolder(tmp_path, cap, 2 * n + 2).check_fits(model) == n


def test_warm_start_only_from_a_matching_checkpoint() -> None:
    cfg = load_config(GPU128)
    gpu_run.choose_init(cfg, None)  # gpu128 is the shipped model's config
    assert cfg.train.init_from == "resources/models/vunet_synth128.safetensors"
    tiny = load_config(GPU128, [f"--model.{k}={v}" for k, v in TINY_MODEL.items()])
    gpu_run.choose_init(tiny, None)
    assert tiny.train.init_from is None
    gpu_run.choose_init(cfg, "none")
    assert cfg.train.init_from is None
    big = load_config(REPO / "training" / "configs" / "gpu256.yaml")
    assert big.model.build().image_size == 256
    assert big.model.build().alpha
    assert big.train.init_from is None


def test_clock_decays_lr_to_zero_at_the_stop() -> None:
    clock = gpu_run.Clock(start=0.0, minutes=1.0, checkpoint_every=60, decay_from=0.5)
    clock.stepped(10.0)
    clock.stepped(10.5)
    stop = clock.stop_at()
    assert 50 < stop < 60
    assert not clock.should_stop(stop - 0.1)
    assert clock.should_stop(stop)
    middle = 10.0 + 0.5 * (stop - 10.0)
    assert clock.lr_factor(middle - 1) == 1.0
    assert clock.lr_factor((middle + stop) / 2) == pytest.approx(0.5)
    assert clock.lr_factor(stop) == 0.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_with_bf16(tmp_path: Path) -> None:
    rc = gpu_run.run([str(GPU128), "--out", str(tmp_path), "--minutes=0.3", "--checkpoint-every=5", *TINY_ON])
    info = progress(tmp_path)
    assert rc == 0
    assert info["device"].startswith("cuda")
    assert info["amp"] == "bfloat16"
    assert info["step"] > 0
    load_checkpoint(tmp_path / info["checkpoint"][0])
