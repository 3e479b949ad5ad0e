"""Training: config, schedules, losses (VGG path with random weights), loop, resume, NaN, export."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

import pytest
import torch
from _training_helpers import TINY_MODEL_FLAGS, tiny_config

from training.checkpoints import latest_resume_file, load_resume, resume_files
from training.config import ConfigError, LossSection, ScheduleSection, load_config
from training.data import FixedSynthDataset
from training.export import export_resume
from training.export import main as export_main
from training.losses import ReconstructionLoss, gram
from training.schedules import kl_weight, learning_rate, lr_factor
from training.trainer import Trainer, TrainingDiverged
from vunet_studio.model import load_checkpoint, read_checkpoint_info

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_data() -> FixedSynthDataset:
    return FixedSynthDataset(tiny_config().model.build(), 4, seed=3)


# --- config and schedules ---------------------------------------------------------------
def test_kl_schedule_reference_values() -> None:
    s = ScheduleSection()
    assert kl_weight(0, s) == 1e-6
    assert kl_weight(50_000, s) == 1e-6
    assert kl_weight(62_500, s) == pytest.approx(0.5 + 0.5e-6)
    assert kl_weight(75_000, s) == 1.0
    assert kl_weight(200_000, s) == 1.0


def test_lr_schedule_reference_values() -> None:
    s = ScheduleSection()
    assert learning_rate(0, s) == 1e-3
    assert learning_rate(1_000, s) == 1e-3
    assert lr_factor(50_500, s) == pytest.approx(0.5)
    assert learning_rate(100_000, s) == 0.0
    assert learning_rate(150_000, s) == 0.0


def test_shipped_configs_load_and_overrides_apply() -> None:
    for name in ("synth128", "market128", "deepfashion256"):
        cfg = load_config(REPO / "training" / "configs" / f"{name}.yaml")
        assert cfg.schedule.kl_start_step == 50_000
    cfg = load_config(
        REPO / "training/configs/synth128.yaml",
        [
            "--model.base_channels=16",
            "--train.batch_size=4",
            "--schedule.lr=5e-4",
            "--loss.gram_weights=[0.1,0,0,0,0]",
        ],
    )
    assert cfg.model.build().base_channels == 16
    assert cfg.train.batch_size == 4
    assert cfg.schedule.lr == 5e-4
    assert cfg.loss.gram_weights[0] == 0.1
    with pytest.raises(ConfigError, match="unknown"):
        load_config(None, ["--train.bogus=1"])
    with pytest.raises(ConfigError, match="integer"):
        load_config(None, ["--train.steps=many"])


# --- losses -------------------------------------------------------------------------------
def test_pixel_fallback_loss_when_vgg_weights_missing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    loss = ReconstructionLoss(LossSection(kind="vgg", vgg_weights=str(tmp_path / "missing.pth")))
    assert loss.loss_name == "pixel+gradient"
    assert "VGG19 weights not found" in caplog.text
    x = torch.zeros(1, 3, 16, 16)
    total, terms = loss(x + 2 / 255, x)
    # 5 x mean|diff| on the 0-255 scale; the gradient term is zero for a constant shift.
    assert total.item() == pytest.approx(5.0, rel=1e-4)
    assert set(terms) == {"pixel", "gradient"}


@pytest.mark.slow
def test_vgg_loss_with_random_weights_flows_gradients(tmp_path: Path) -> None:
    from torchvision.models import vgg19

    torch.manual_seed(0)
    # Only the conv part is saved (80 MB instead of 550 MB); the loader takes either.
    state = {f"features.{k}": v for k, v in vgg19(weights=None).features.state_dict().items()}
    path = tmp_path / "vgg19-random.pth"
    torch.save(state, path)
    loss = ReconstructionLoss(
        LossSection(kind="vgg", vgg_weights=str(path), gram_weights=[0.1, 0, 0, 0, 0.1])
    )
    assert loss.loss_name == "vgg19"
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    x_hat = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_(True)
    total, terms = loss(x_hat, x)
    assert {"relu1_2", "relu5_2", "gram_relu1_2", "gram_relu5_2"} <= set(terms)
    assert math.isfinite(total.item())
    # The feature term alone must reach x_hat (a public port detached it).
    terms["relu3_2"].backward()
    assert x_hat.grad is not None
    assert x_hat.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in loss.vgg.parameters())


def test_person_weight_counts_errors_on_the_person_more() -> None:
    x = torch.zeros(1, 3, 16, 16)
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 4:12, 6:10] = 1  # a small person
    on_person, on_background = x.clone(), x.clone()
    on_person[..., 6, 7] = 0.5  # the same error, once on the person, once beside it
    on_background[..., 6, 1] = 0.5
    plain = ReconstructionLoss(LossSection(kind="pixel"))
    weighted = ReconstructionLoss(LossSection(kind="pixel", person_weight=4.0))
    assert plain(on_person, x, mask)[0] == pytest.approx(plain(on_background, x, mask)[0].item())
    assert weighted(on_person, x, mask)[0] > 3 * weighted(on_background, x, mask)[0]
    # Without a silhouette (real datasets) the weighted loss is the reference loss.
    assert weighted(on_person, x)[0] == pytest.approx(plain(on_person, x)[0].item())


def test_synthetic_items_carry_the_person_mask() -> None:
    from training.data import SynthDataset, collate

    item = SynthDataset(tiny_config().model.build(), seed=3)[0]
    assert item["mask"].shape == (1, *item["image"].shape[1:])
    assert 0.02 < item["mask"].mean() < 0.6
    assert collate([item, item])["mask"].shape[0] == 2


def test_gram_matrix_definition() -> None:
    f = torch.ones(1, 2, 3, 4)
    assert torch.allclose(gram(f), torch.full((1, 2, 2), 12 / (4 * 12)))


# --- the loop -----------------------------------------------------------------------------
@pytest.mark.slow
def test_short_training_reduces_loss(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    cfg = tiny_config(steps=40, batch_size=4)
    result = Trainer(cfg, tmp_path / "run", dataset=tiny_data, tensorboard=False).run()
    assert result.step == 40
    assert result.stopped == "done"
    first, last = sum(result.losses[:5]) / 5, sum(result.losses[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert "used: pixel+gradient" in (tmp_path / "run" / "config.yaml").read_text()
    info = read_checkpoint_info(tmp_path / "run" / "model.safetensors")
    assert info.step == 40
    assert info.extra["loss"] == "pixel+gradient"


@pytest.mark.slow
def test_resume_after_sigterm_matches_uninterrupted_run(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    cfg = tiny_config(steps=16)
    full = Trainer(cfg, tmp_path / "a", dataset=tiny_data, tensorboard=False).run()

    def interrupt(trainer: Trainer, step: int, loss: float) -> None:
        if step == 8:
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill` or a cluster scheduler would

    first = Trainer(cfg, tmp_path / "b", dataset=tiny_data, tensorboard=False, on_step=interrupt).run()
    assert first.stopped == "interrupted"
    assert first.step == 8
    assert latest_resume_file(tmp_path / "b").name == "resume-00000008.pt"
    state = torch.load(latest_resume_file(tmp_path / "b"), weights_only=True)
    assert state["step"] == 8
    second = Trainer(cfg, tmp_path / "b", resume=True, dataset=tiny_data, tensorboard=False).run()
    assert second.step == 16
    assert second.stopped == "done"
    resumed = first.losses + second.losses
    assert len(resumed) == len(full.losses)
    for a, b in zip(full.losses, resumed, strict=True):
        assert b == pytest.approx(a, rel=1e-4, abs=1e-4)


@pytest.mark.slow
def test_keep_last_resume_files(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    cfg = tiny_config(steps=8, checkpoint_every=2, keep_last=2)
    Trainer(cfg, tmp_path, dataset=tiny_data, tensorboard=False).run()
    assert [p.name for p in resume_files(tmp_path)] == ["resume-00000006.pt", "resume-00000008.pt"]


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    cfg = tiny_config(steps=20, checkpoint_every=3)
    trainer = Trainer(cfg, tmp_path, dataset=tiny_data, tensorboard=False)
    real = trainer.loss_fn.forward

    def poisoned(x_hat: torch.Tensor, x: torch.Tensor, mask: torch.Tensor | None = None, alpha=None):  # type: ignore[no-untyped-def]
        total, terms = real(x_hat, x, mask, alpha)
        return (total * float("nan"), terms) if trainer.step >= 5 else (total, terms)

    trainer.loss_fn.forward = poisoned  # type: ignore[method-assign]
    with pytest.raises(TrainingDiverged, match=r"step 5.*resume-00000003.pt"):
        trainer.run()
    assert [p.name for p in resume_files(tmp_path)] == ["resume-00000003.pt"]
    model, info = load_checkpoint(tmp_path / "model.safetensors")
    assert info.step == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_export_resume_to_safetensors(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    cfg = tiny_config(steps=2)
    trainer = Trainer(cfg, tmp_path / "run", dataset=tiny_data, tensorboard=False)
    trainer.run()
    resume = latest_resume_file(tmp_path / "run")
    assert export_main([str(resume), "-o", str(tmp_path / "out.safetensors")]) == 0
    model, info = load_checkpoint(tmp_path / "out.safetensors")
    assert info.step == 2
    assert info.extra["loss"] == "pixel+gradient"
    saved = load_resume(resume)["model"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, saved[k]), k
    half = export_resume(tmp_path / "run", tmp_path / "half.safetensors", fp16=True)
    assert read_checkpoint_info(half).stored_dtype == "float16"
    assert export_main([str(tmp_path / "nothing.pt"), "-o", str(tmp_path / "x.safetensors")]) == 2


@pytest.mark.slow
def test_warm_start_from_safetensors(tmp_path: Path, tiny_data: FixedSynthDataset) -> None:
    Trainer(tiny_config(steps=3), tmp_path / "a", dataset=tiny_data, tensorboard=False).run()
    src = tmp_path / "a" / "model.safetensors"
    keep = tiny_config(steps=5, init_from=str(src), init_keep_step=True)
    t = Trainer(keep, tmp_path / "b", dataset=tiny_data, tensorboard=False)
    assert t.step == 3
    fresh = Trainer(
        tiny_config(steps=5, init_from=str(src)), tmp_path / "c", dataset=tiny_data, tensorboard=False
    )
    assert fresh.step == 0
    src_model, _ = load_checkpoint(src)
    for k, v in src_model.state_dict().items():
        assert torch.equal(v, fresh.model.state_dict()[k])


@pytest.mark.slow
def test_vunet_train_cli_fresh_refuse_resume(tmp_path: Path) -> None:
    from training.train import main

    common = [
        *TINY_MODEL_FLAGS,
        "--batch_size=2",
        "--init_batches=1",
        "--threads=1",
        "--loss.kind=pixel",
        "--no-progress",
    ]
    cfg = str(REPO / "training/configs/synth128.yaml")
    run = tmp_path / "run"
    assert main([cfg, "--out", str(run), "--steps=2", *common]) == 0
    assert read_checkpoint_info(run / "model.safetensors").step == 2
    assert main([cfg, "--out", str(run), "--steps=2", *common]) == 2  # would clobber the run
    assert main(["--out", str(run), "--resume", "--steps=3", "--threads=1", "--no-progress"]) == 0
    assert read_checkpoint_info(run / "model.safetensors").step == 3
    assert main([cfg, "--out", str(tmp_path / "x"), "--bogus=1"]) == 2


@pytest.mark.slow
def test_sigterm_to_the_process_group_with_data_workers_saves_a_resume_file(tmp_path: Path) -> None:
    """`kill -- -PGID` (or Ctrl-C) reaches the data workers too; the run must still save."""
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    cmd = [
        sys.executable, "-m", "training.train", str(REPO / "training/configs/synth128.yaml"),
        "--out", str(out), "--no-progress", *TINY_MODEL_FLAGS, "--steps=100000", "--batch_size=2",
        "--data.num_workers=1", "--train.checkpoint_every=0", "--loss.kind=pixel", "--amp=none",
        "--train.threads=1",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert proc.stderr is not None
    for line in proc.stderr:  # wait until training has started
        if "vunet-train: run" in line:
            break
    time.sleep(4)  # a few steps, with the worker running
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        rest = proc.communicate(timeout=120)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    assert "DataLoader worker" not in rest, rest
    assert "interrupted" in rest
    assert latest_resume_file(out) is not None
