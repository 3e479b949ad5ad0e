"""Training data: the restricted unpickler, index.p datasets, image folders, the resumable sampler."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from _training_helpers import tiny_model_config

from training.data import (
    DatasetError,
    FolderDataset,
    IndexDataset,
    StreamSampler,
    SynthDataset,
    collate,
)
from training.index_file import UnsafePickleError, restricted_load, restricted_loads
from vunet_studio.pose_io import write_openpose
from vunet_studio.skeleton import JOINT_NAMES

CFG = tiny_model_config()


class _Evil:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, ("echo pwned > /dev/null",))


@pytest.mark.parametrize(
    "payload",
    [_Evil(), {"imgs": [_Evil()]}, __import__("collections").OrderedDict(a=1), {"f": eval}],
)
def test_restricted_unpickler_refuses_globals(payload: object) -> None:
    data = pickle.dumps(payload, protocol=2)
    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        restricted_loads(data)


@pytest.mark.parametrize("protocol", [2, 4, pickle.HIGHEST_PROTOCOL])
def test_restricted_unpickler_loads_plain_data_and_arrays(protocol: int) -> None:
    obj = {
        "joints": np.random.rand(3, 18, 2).astype(np.float32),
        "train": [True, False, True],
        "imgs": ("a.png", "b.png", "c.png"),
        "n": 3,
        "x": 1.5,
        "none": None,
        "scalar": np.float64(2.0),
        "ints": np.arange(4, dtype=np.int64),
    }
    back = restricted_loads(pickle.dumps(obj, protocol=protocol))
    assert np.array_equal(back["joints"], obj["joints"])
    assert back["joints"].dtype == np.float32
    assert back["train"] == obj["train"]
    assert back["imgs"] == obj["imgs"]
    assert back["none"] is None
    assert back["scalar"] == 2.0
    assert np.array_equal(back["ints"], obj["ints"])


def test_index_dataset_reads_a_real_index_and_drops_torsoless(tmp_path: Path) -> None:
    from training.synth.cli import write_dataset

    index_path = write_dataset(tmp_path / "ds", 4, size=128, seed=0)
    index = restricted_load(index_path)
    assert list(index["joint_order"]) == list(JOINT_NAMES)
    # Take a hip away from one sample: it must be dropped.
    index["joints"][1, JOINT_NAMES.index("rhip")] = -1.0
    index["train"] = [True] * 4
    index_path.write_bytes(pickle.dumps(index, protocol=2))
    ds = IndexDataset(index_path, CFG, split="train")
    assert len(ds) == 3
    item = ds[0]
    assert item is not None
    assert tuple(item["parts"].shape) == (24, 64, 64)
    assert tuple(item["shape"].shape) == (3, 128, 128)
    assert float(item["image"].min()) >= -1.0
    with pytest.raises(DatasetError):
        IndexDataset(tmp_path / "nowhere" / "index.p", CFG)


def test_index_dataset_refuses_a_malicious_index(tmp_path: Path) -> None:
    (tmp_path / "index.p").write_bytes(pickle.dumps({"imgs": [], "joints": _Evil()}))
    with pytest.raises(UnsafePickleError):
        IndexDataset(tmp_path, CFG)


def test_folder_dataset_skips_a_corrupt_image_and_counts_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import cv2

    from training.synth import sample

    for i in range(3):
        s = sample(i, size=128)
        cv2.imwrite(str(tmp_path / f"p{i}.png"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        write_openpose(tmp_path / f"p{i}.json", [s.pose], (128, 128))
    (tmp_path / "p1.png").write_bytes(b"\x89PNG not really an image")
    (tmp_path / "lonely.png").write_bytes((tmp_path / "p0.png").read_bytes())  # no pose file: left out
    ds = FolderDataset(tmp_path, CFG)
    assert len(ds) == 3
    batch = collate([ds[i] for i in range(3)])
    assert batch["skipped"] == 1
    assert batch["image"].shape[0] == 2
    assert "unreadable image" in caplog.text


def test_folder_dataset_training_counts_skipped(tmp_path: Path) -> None:
    import cv2
    from _training_helpers import tiny_config

    from training.synth import sample
    from training.trainer import Trainer

    for i in range(3):
        s = sample(i, size=128)
        cv2.imwrite(str(tmp_path / f"p{i}.png"), cv2.cvtColor(s.image, cv2.COLOR_RGB2BGR))
        write_openpose(tmp_path / f"p{i}.json", [s.pose], (128, 128))
    (tmp_path / "p2.png").write_bytes(b"garbage")
    cfg = tiny_config(steps=2, batch_size=3)
    cfg.data.kind, cfg.data.path = "folder", str(tmp_path)
    result = Trainer(cfg, tmp_path / "run", tensorboard=False).run()
    assert result.step == 2
    assert result.skipped_images >= 2


def test_stream_sampler_is_resumable_and_sharded() -> None:
    def take(s: StreamSampler, n: int) -> list[int]:
        it = iter(s)
        return [next(it) for _ in range(n)]

    whole = take(StreamSampler(5, 2, seed=1), 12)
    assert sorted(whole[:5]) == list(range(5))
    assert sorted(whole[5:10]) == list(range(5))
    assert take(StreamSampler(5, 2, seed=1, start=6), 6) == whole[6:]
    r0 = take(StreamSampler(None, 2, rank=0, world=2), 4)
    r1 = take(StreamSampler(None, 2, rank=1, world=2), 4)
    assert r0 == [0, 1, 4, 5]
    assert r1 == [2, 3, 6, 7]


def test_synth_dataset_items_are_deterministic() -> None:
    ds = SynthDataset(CFG, seed=7)
    a, b = ds[3], ds[3]
    assert all((a[k] == b[k]).all() for k in a)
