"""Two-process DistributedDataParallel (gloo, CPU): ranks stay in sync, rank 0 alone writes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank: int, world: int, root: str) -> None:
    from _training_helpers import tiny_config

    from training.data import FixedSynthDataset
    from training.trainer import Trainer

    torch.set_num_threads(1)
    try:
        dist.init_process_group("gloo", init_method=f"file://{root}/store", rank=rank, world_size=world)
    except Exception as exc:  # no usable network interface for gloo
        Path(root, f"skip{rank}").write_text(str(exc))
        return
    try:
        cfg = tiny_config(steps=2, batch_size=1)
        ds = FixedSynthDataset(cfg.model.build(), 4, seed=0)
        trainer = Trainer(cfg, Path(root) / "run", dataset=ds, tensorboard=False)
        result = trainer.run()
        params = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
        torch.save(
            {"step": result.step, "losses": result.losses, "params": params}, Path(root) / f"result{rank}.pt"
        )
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_process_gloo_ddp(tmp_path: Path) -> None:
    try:
        mp.spawn(_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    except Exception as exc:
        if any(tmp_path.glob("skip*")):
            pytest.skip(f"gloo cannot bind here: {exc}")
        raise
    if any(tmp_path.glob("skip*")):
        pytest.skip("gloo cannot bind here: " + next(tmp_path.glob("skip*")).read_text())
    r0 = torch.load(tmp_path / "result0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "result1.pt", weights_only=True)
    assert r0["step"] == r1["step"] == 2
    # Ranks see different samples, so their per-rank losses differ...
    assert r0["losses"] != r1["losses"]
    # ...yet gradients are averaged, so the weights stay identical.
    assert torch.equal(r0["params"], r1["params"])
    # ...but rank 0 alone wrote the run's files, from the unwrapped module.
    from vunet_studio.model import read_checkpoint_info

    info = read_checkpoint_info(tmp_path / "run" / "model.safetensors")
    assert info.step == 2
    assert info.extra["batch_size"] == 2
