"""Training data: synthetic people, official `index.p` datasets and image folders with pose files.

An item is a self-reconstruction example, as in the paper: `parts` (the 8 part crops F_phi
sees), `shape` (E_theta's shape input: the stickman, plus the warped parts for models with
`warped_parts`) and `image` all come from one image and its pose, built with the same
`vunet_studio.model_inputs` functions the app uses. Synthetic data can also give re-posing
pairs (`data.pair_fraction`): `parts` from the person in one pose, the rest from another.
No augmentation (the reference has none).

Item order is a deterministic function of (seed, position), see `StreamSampler`, so a resumed
run sees exactly the batches the interrupted one would have seen, whatever the number of
loader workers. An unreadable image is not fatal: the item is None, `collate` drops it and
counts it in `batch["skipped"]`, and the trainer adds the counts up; `UnreadableGuard` stops
the run when so many in a row fail that the dataset is plainly unusable, and the warnings
about them are rate-limited (`warn_unreadable`) so a broken dataset cannot fill the disk with log.
"""

from __future__ import annotations

import logging
import os
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import BatchSampler, DataLoader, Dataset, Sampler

from training.config import DataSection
from training.index_file import INDEX_NAME, IndexFileError, UnsafePickleError, read_index
from vunet_studio.fileio import is_temporary
from vunet_studio.imageio import ImageLoadError, is_image_path, load_image
from vunet_studio.model.config import VUNetConfig
from vunet_studio.model_inputs import appearance_input, image_to_tensor, shape_input, to_model_frame
from vunet_studio.pose import Pose
from vunet_studio.pose_io import PoseFileError, read_poses

if TYPE_CHECKING:
    from training.synth.realism import Realism

logger = logging.getLogger(__name__)

Item = dict[str, Tensor]


class DatasetError(ValueError):
    """A dataset that cannot be used at all (missing index, no usable samples)."""


class RefusedIndexError(DatasetError, UnsafePickleError):
    """An index file refused by the restricted unpickler (it could run code when loaded)."""


#: Warnings about unreadable images: the first WARN_FIRST of each process, then every WARN_EVERY-th.
WARN_FIRST = 10
WARN_EVERY = 1000
_unreadable_warnings = 0


def warn_unreadable(msg: str, *args: Any) -> None:
    """A warning about one unreadable image, rate-limited per process: a dataset of broken
    images once wrote gigabytes of these lines."""
    global _unreadable_warnings
    _unreadable_warnings += 1
    n = _unreadable_warnings
    if n <= WARN_FIRST or n % WARN_EVERY == 0:
        if n == WARN_FIRST:
            msg += f" ({n} unreadable images: from now on only every {WARN_EVERY}th is logged)"
        elif n > WARN_FIRST:
            msg += f" ({n} unreadable images so far)"
        logger.warning(msg, *args)


#: Stop when this many items in a row could not be read (fewer for a small dataset: twice its
#: length), so a dataset whose images are all unreadable ends the run with an error, not a loop.
MAX_UNREADABLE_IN_A_ROW = 1000


class UnreadableGuard:
    """Counts unreadable items batch by batch and raises DatasetError when too many come in a row."""

    def __init__(self, length: int | None, where: str = "the dataset") -> None:
        self.limit = (
            MAX_UNREADABLE_IN_A_ROW if length is None else min(MAX_UNREADABLE_IN_A_ROW, 2 * length + 8)
        )
        self.where = where
        self.in_a_row = 0

    def add(self, skipped: int, good: int) -> None:
        self.in_a_row = 0 if good else self.in_a_row + skipped
        if self.in_a_row >= self.limit:
            raise DatasetError(
                f"{self.in_a_row} images in a row could not be read from {self.where}; "
                "check that its image files exist and are PNG or JPEG images, then start again"
            )


def make_item(
    image: np.ndarray,
    pose: Pose,
    cfg: VUNetConfig,
    *,
    appearance: tuple[np.ndarray, Pose] | None = None,
    warp: bool = True,
) -> Item:
    """One example from an RGB uint8 image and its pose (any size): a self-reconstruction, or
    with `appearance` (another image of the person, and its pose) a re-posing pair.
    `warp` False leaves the warped parts out of E_theta's input (all zeros), as for a render
    without an appearance image; only matters with `cfg.warped_parts`."""
    img, p = to_model_frame(image, pose, cfg.image_size)
    parts = appearance_input(*(appearance or (img, p)), cfg)  # (C, P, P)
    return {
        "parts": parts,
        "shape": shape_input(p, parts if warp else None, cfg),  # (3 or 7, S, S)
        "image": image_to_tensor(img),  # (3, S, S)
    }


def read_rgb(path: Path) -> np.ndarray | None:
    """The image as RGB uint8, or None (with a rate-limited warning) when it cannot be read:
    one bad file in a dataset skips its item instead of stopping the run."""
    try:
        return load_image(path)
    except ImageLoadError as exc:
        warn_unreadable("skipping unreadable image %s (%s)", path, exc.problem)
        return None


# --- datasets ---------------------------------------------------------------------------
class SynthDataset(Dataset):
    """Synthetic people rendered on the fly: item i is `training.synth.sample(seed + i)`.

    With `pair_fraction` > 0 that share of the items is a re-posing pair instead: the parts
    come from `sample_pair(seed + i)`'s first pose, image, shape input and mask from its second.
    Which items are pairs depends only on (seed, i), so resumed runs see the same stream.
    Unbounded (`length` is None): the sampler hands out ever-growing indices.
    """

    length: int | None = None

    def __init__(
        self,
        cfg: VUNetConfig,
        seed: int = 0,
        pair_fraction: float = 0.0,
        warp_dropout: float = 0.0,
        realism: Realism | None = None,
    ) -> None:
        self.cfg = cfg
        self.seed = seed
        self.pair_fraction = pair_fraction
        self.warp_dropout = warp_dropout
        #: `training.synth.Realism` (photo backgrounds, camera effects, ...) or None: plain people.
        self.realism = realism

    def is_pair(self, i: int) -> bool:
        if self.pair_fraction <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, int(i), 7]).random() < self.pair_fraction)

    def drops_warp(self, i: int) -> bool:
        """Whether item i leaves the warped parts out (so renders without an appearance image,
        such as prior samples, stay in the training distribution)."""
        if self.warp_dropout <= 0.0:
            return False
        return bool(np.random.default_rng([self.seed, int(i), 11]).random() < self.warp_dropout)

    def __getitem__(self, i: int) -> Item:
        from training.synth import sample, sample_pair  # lazy: importing the renderer is not free

        seed, size = self.seed + int(i), self.cfg.image_size
        warp = not self.drops_warp(i)
        if self.is_pair(i):
            a, s = sample_pair(seed, size=size, realism=self.realism)
            item = make_item(s.image, s.pose, self.cfg, appearance=(a.image, a.pose), warp=warp)
        else:
            s = sample(seed, size=size, realism=self.realism)
            item = make_item(s.image, s.pose, self.cfg, warp=warp)
        # The person's silhouette, for losses that weight the person above the background.
        mask: np.ndarray = s.mask.astype(np.uint8)
        if mask.shape != (self.cfg.image_size, self.cfg.image_size):
            mask = cv2.resize(mask, (self.cfg.image_size,) * 2, interpolation=cv2.INTER_NEAREST)
        item["mask"] = torch.from_numpy(mask)[None].float()  # (1, S, S)
        return item


class FixedSynthDataset(Dataset):
    """A few synthetic items rendered once and kept in memory (tests, overfitting checks)."""

    def __init__(self, cfg: VUNetConfig, count: int, seed: int = 0) -> None:
        base = SynthDataset(cfg, seed)
        self.items = [base[i] for i in range(count)]
        self.length = count

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Item:
        return self.items[i]


@dataclass(frozen=True)
class _Entry:
    path: Path
    joints: np.ndarray | None  # (18, 2) normalised (index.p), or None: read the pose file
    pose_path: Path | None = None


class IndexDataset(Dataset):
    """An official `index.p` dataset (`training.index_file`). Samples without both shoulders
    and hips are dropped."""

    def __init__(
        self,
        index_path: str | os.PathLike[str],
        cfg: VUNetConfig,
        split: str = "train",
        require_torso: bool = True,
    ) -> None:
        self.cfg = cfg
        path = Path(index_path)
        if path.is_dir():
            path = path / INDEX_NAME
        if not path.is_file():
            raise DatasetError(f"no index file at {path}")
        try:
            index = read_index(path)
        except UnsafePickleError as exc:
            raise RefusedIndexError(str(exc)) from None
        except IndexFileError as exc:
            raise DatasetError(str(exc)) from None
        imgs, train, joints = index.imgs, index.train, index.joints
        keep = np.ones(len(imgs), bool) if split == "all" else (train if split == "train" else ~train)
        self.entries: list[_Entry] = []
        dropped = 0
        for i in np.flatnonzero(keep):
            pose = Pose.from_normalized(joints[i], 1.0, 1.0)
            if require_torso and not pose.has_torso():
                dropped += 1
                continue
            self.entries.append(_Entry(path.parent / imgs[i], joints[i]))
        if not self.entries:
            raise DatasetError(f"{path}: no usable samples in split {split!r}")
        self.length = len(self.entries)
        logger.info("%s: %d samples (%s), %d dropped without a torso", path, self.length, split, dropped)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Item | None:
        e = self.entries[i]
        img = read_rgb(e.path)
        if img is None:
            return None
        h, w = img.shape[:2]
        assert e.joints is not None  # an index entry always carries its joints
        return make_item(img, Pose.from_normalized(e.joints, w, h), self.cfg)


class FolderDataset(Dataset):
    """A folder of images, each with a pose file of the same stem (`a.png` + `a.json`).

    Pose files are anything `read_poses` reads (OpenPose, COCO, own format); the first
    pose with a torso is used. Images without a usable pose file are left out when listing.
    """

    def __init__(self, folder: str | os.PathLike[str], cfg: VUNetConfig, require_torso: bool = True) -> None:
        self.cfg = cfg
        root = Path(folder)
        if not root.is_dir():
            raise DatasetError(f"no such folder: {root}")
        self.entries: list[_Entry] = []
        self.poses: list[Pose] = []
        no_pose = 0
        for img_path in sorted(p for p in root.iterdir() if is_image_path(p) and not is_temporary(p)):
            pose_path = img_path.with_suffix(".json")
            pose = _first_pose(pose_path, require_torso) if pose_path.is_file() else None
            if pose is None:
                no_pose += 1
                continue
            self.entries.append(_Entry(img_path, None, pose_path))
            self.poses.append(pose)
        if not self.entries:
            raise DatasetError(f"{root}: no image with a usable pose file (<stem>.json)")
        self.length = len(self.entries)
        logger.info("%s: %d samples, %d without a usable pose", root, self.length, no_pose)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> Item | None:
        img = read_rgb(self.entries[i].path)
        if img is None:
            return None
        try:
            return make_item(img, self.poses[i], self.cfg)
        except (ValueError, cv2.error) as exc:
            warn_unreadable("skipping %s (%s)", self.entries[i].path, exc)
            return None


def _first_pose(path: Path, require_torso: bool) -> Pose | None:
    try:
        poses = read_poses(path)
    except (PoseFileError, OSError) as exc:
        logger.warning("skipping pose file %s (%s)", path, exc)
        return None
    for p in poses:
        if p.has_torso() or not require_torso:
            return p
    return None


def build_dataset(data: DataSection, cfg: VUNetConfig) -> Dataset:
    if data.kind == "synth":
        realism = None
        if data.realism or data.texture_dir:
            from training.synth.realism import Realism  # lazy, as in SynthDataset

            realism = Realism.from_mapping(data.realism, data.texture_dir)
        return SynthDataset(cfg, data.seed, data.pair_fraction, data.warp_dropout, realism)
    if data.kind == "index":
        assert data.path is not None
        return IndexDataset(data.path, cfg, data.split, data.require_torso)
    assert data.path is not None
    return FolderDataset(data.path, cfg, data.require_torso)


# --- order, batching, loading -----------------------------------------------------------
class StreamSampler(Sampler[int]):
    """An endless, resumable stream of dataset indices, sharded over DDP ranks.

    Global position g (counted over all ranks) maps to an index: for a finite dataset of n
    items, epoch g // n is a permutation seeded by (seed, epoch); for the unbounded synthetic
    set the index is g itself. Rank r takes the positions of the r-th slice of every global
    batch, so ranks never see the same item in a step. `start` resumes mid-stream.
    """

    def __init__(
        self,
        length: int | None,
        batch_size: int,
        *,
        seed: int = 0,
        start: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.start = start
        self.rank = rank
        self.world = world

    def _index(self, g: int, perm_cache: dict[int, np.ndarray]) -> int:
        if self.length is None:
            return g
        epoch, k = divmod(g, self.length)
        if epoch not in perm_cache:
            perm_cache.clear()
            perm_cache[epoch] = np.random.default_rng([self.seed, epoch]).permutation(self.length)
        return int(perm_cache[epoch][k])

    def __iter__(self) -> Iterator[int]:
        cache: dict[int, np.ndarray] = {}
        g = self.start
        while True:
            if (g // self.batch_size) % self.world == self.rank:
                yield self._index(g, cache)
            g += 1


def collate(items: list[Item | None]) -> dict[str, Any]:
    good = [it for it in items if it is not None]
    batch: dict[str, Any] = {"skipped": len(items) - len(good)}
    for key in ("parts", "shape", "image"):
        batch[key] = torch.stack([it[key] for it in good]) if good else None  # (B, ...)
    # Only synthetic data knows the person's silhouette.
    batch["mask"] = (
        torch.stack([it["mask"] for it in good]) if good and all("mask" in it for it in good) else None
    )
    return batch


def _seed_worker(worker_id: int) -> None:
    # torch gives every worker its own base seed; derive numpy's and random's from it so no
    # two workers (and no two runs with other seeds) draw the same random numbers.
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)
    # Ctrl-C and `kill -- -PGID` reach the whole process group. A worker killed by them made
    # the trainer die with "DataLoader worker killed" before it could write its resume file;
    # the trainer alone handles them and then shuts its workers down.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    seed: int,
    start: int,
    num_workers: int,
    rank: int = 0,
    world: int = 1,
) -> DataLoader:
    """Batches of `batch_size` per rank from global position `start` (= batches drawn x B x world)."""
    length = getattr(dataset, "length", None)
    sampler = StreamSampler(length, batch_size, seed=seed, start=start, rank=rank, world=world)
    g = torch.Generator()
    g.manual_seed(seed * 1000 + rank)
    return DataLoader(
        dataset,
        batch_sampler=BatchSampler(sampler, batch_size, drop_last=True),
        collate_fn=collate,
        num_workers=num_workers,
        worker_init_fn=_seed_worker,
        generator=g,
        persistent_workers=num_workers > 0,
        prefetch_factor=2 if num_workers > 0 else None,
    )
