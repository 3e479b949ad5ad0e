"""`vunet-synth`: write a synthetic dataset in the official `index.p` layout, or re-posing pairs.

    vunet-synth --out DIR --count N [--size 128] [--seed S] [--workers W] [--overwrite]
        DIR/images/000000.png ... and DIR/index.p (joint_order, imgs, train, joints)
    vunet-synth --out DIR --pairs N [--size 128] [--seed S]
        DIR/<id>/appearance.png, appearance_pose.json, target_pose.json, target.png, mask.png
    --realistic [--textures DIR]: with every photographic option of `training.synth.REALISTIC`
        (photos from DIR, $VUNET_TEXTURES or data/textures; procedural textures without them)

Dataset sample i uses seed S + i; pair i uses seed S + i + PAIR_SEED_OFFSET, so the held-out
pairs never show a person of a dataset written with the same --seed.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.index_file import IMAGES_DIR, INDEX_NAME, write_index
from training.pairs import PNG_LEVEL, Pair, pair_folder, write_pair
from training.synth.realism import REALISTIC, Realism
from training.synth.sampling import SynthSample, sample, sample_pair, scene_image
from vunet_studio.exports import ExportError, write_image
from vunet_studio.skeleton import JOINT_NAMES

log = logging.getLogger(__name__)

PAIR_SEED_OFFSET = 1 << 30
#: Every TEST_EVERY-th sample is held out (train = False), as a deterministic 10% split.
TEST_EVERY = 10


class UsageError(Exception):
    """A bad command line: reported as one line, exit status 2."""


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="vunet-synth", description="Render synthetic people as a VUNet dataset or as re-posing pairs."
    )
    ap.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    what = ap.add_mutually_exclusive_group(required=True)
    what.add_argument("--count", type=int, help="number of dataset images (writes images/ and index.p)")
    what.add_argument("--pairs", type=int, help="number of held-out re-posing pairs (one folder each)")
    ap.add_argument("--size", type=int, default=128, help="square image size in pixels (default 128)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--workers", type=int, default=1, help="rendering processes (default 1)")
    ap.add_argument("--overwrite", action="store_true", help="replace a dataset or pairs already in --out")
    ap.add_argument(
        "--realistic",
        action="store_true",
        help="photo backgrounds, camera effects, ... (training.synth.REALISTIC)",
    )
    ap.add_argument("--textures", default=None, help="photo folder for --realistic (default: data/textures)")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap.parse_args(argv)


def _check(args: argparse.Namespace) -> None:
    n = args.count if args.count is not None else args.pairs
    if n <= 0:
        raise UsageError("--count/--pairs must be a positive number")
    if not 32 <= args.size <= 1024:
        raise UsageError(f"--size must be between 32 and 1024, got {args.size}")
    if args.seed < 0:
        raise UsageError("--seed must not be negative")
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out} exists and is not a folder")
    # What a user already made there (maybe hours of rendering, or another tool's dataset)
    # is replaced only when asked for.
    if args.overwrite:
        return
    if args.count is not None and (args.out / INDEX_NAME).exists():
        raise UsageError(
            f"{args.out} already holds a dataset ({args.out / INDEX_NAME}); choose another --out, "
            "or add --overwrite to replace it"
        )
    if args.pairs is not None and pair_folder(args.out, 0).exists():
        raise UsageError(
            f"{args.out} already holds re-posing pairs ({pair_folder(args.out, 0)}); choose another --out, "
            "or add --overwrite to replace them"
        )


def _render_one(job: tuple[int, int, Realism | None]) -> SynthSample:
    seed, size, realism = job
    return sample(seed, size, realism=realism)


def _samples(
    seeds: Iterator[int], size: int, workers: int, realism: Realism | None = None
) -> Iterator[SynthSample]:
    jobs = ((s, size, realism) for s in seeds)
    if workers == 1:
        yield from map(_render_one, jobs)
        return
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        yield from pool.imap(_render_one, jobs, chunksize=16)


def write_dataset(
    out: Path, count: int, size: int = 128, seed: int = 0, workers: int = 1, realism: Realism | None = None
) -> Path:
    """Render `count` samples into `out` in the official layout; returns the index.p path."""
    (out / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    imgs: list[str] = []
    joints = np.zeros((count, len(JOINT_NAMES), 2), np.float32)
    train = np.zeros(count, bool)
    # Samples without both shoulders and hips are dropped as the official data does; the
    # sampler already avoids them, so this loop only rarely needs an extra seed.
    seeds = iter(range(seed, seed + 1_000_000_000))
    with tqdm(total=count, unit="img", desc="rendering") as bar:
        for s in _samples(seeds, size, workers, realism):
            if not s.pose.has_torso():
                log.debug("seed %d lacks a shoulder or hip: dropped", s.seed)
                continue
            i = len(imgs)
            name = f"{IMAGES_DIR}/{i:06d}.png"
            write_image(out / name, s.image, compress_level=PNG_LEVEL)
            imgs.append(name)
            joints[i] = s.pose.to_normalized(size, size)
            train[i] = i % TEST_EVERY != TEST_EVERY - 1
            bar.update(1)
            if len(imgs) == count:
                break
    path = write_index(out / INDEX_NAME, imgs, train.tolist(), joints)
    log.info(
        "wrote %d images (%d train, %d test) and %s", count, int(train.sum()), count - int(train.sum()), path
    )
    return path


def write_pairs(
    out: Path, count: int, size: int = 128, seed: int = 0, realism: Realism | None = None
) -> list[Path]:
    """Render `count` re-posing pairs, one folder each; returns the folders."""
    out.mkdir(parents=True, exist_ok=True)
    folders = []
    for i in tqdm(range(count), unit="pair", desc="rendering pairs"):
        a, b = sample_pair(seed + i + PAIR_SEED_OFFSET, size, realism=realism)
        d = pair_folder(out, i)
        # With the scene without the person: what the app composites a re-posed person onto.
        write_pair(
            d, Pair(d.name, a.image, a.pose, b.image, b.pose, b.mask, scene_image(b.person, size, b.look))
        )
        folders.append(d)
    log.info("wrote %d pairs to %s", count, out)
    return folders


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parse(argv)
    except SystemExit as e:  # argparse already printed its usage message
        return int(e.code or 0)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="vunet-synth: %(message)s"
    )
    try:
        _check(args)
        realism = replace(REALISTIC, texture_dir=args.textures) if args.realistic else None
        if args.count is not None:
            write_dataset(args.out, args.count, args.size, args.seed, args.workers, realism)
        else:
            write_pairs(args.out, args.pairs, args.size, args.seed, realism)
    except UsageError as e:
        log.error("error: %s", e)
        return 2
    except OSError as e:
        log.error("error: cannot write %s: %s", e.filename or args.out, e.strerror or e)
        return 1
    except ExportError as e:
        log.error("error: cannot write %s", e)
        return 1
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
