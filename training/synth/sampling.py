"""Seeded samples for training: one image per seed, or a same-person re-posing pair.

Every random draw comes from a generator seeded by (seed, stream), so `sample(seed)` does
not depend on what was sampled before it, and `sample_pair(seed)[0]` is `sample(seed)`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.synth.appearance import SynthPerson, sample_person
from training.synth.body import Articulation
from training.synth.poses import sample_articulation
from training.synth.renderer import draw, layout
from vunet_studio.pose import Pose

_PERSON, _POSE, _SECOND_POSE = 0, 1, 2
_MAX_TRIES = 64


@dataclass
class SynthSample:
    """One rendered synthetic person."""

    image: np.ndarray  # (H, W, 3) uint8 RGB
    pose: Pose  # 18 joints in pixels with visibility
    mask: np.ndarray  # (H, W) bool silhouette
    person: SynthPerson  # appearance parameters
    articulation: Articulation  # pose parameters
    seed: int = 0


def _articulation(
    person: SynthPerson,
    seed: int,
    stream: int,
    size: int,
    require_torso: bool,
    avoid: Articulation | None = None,
) -> Articulation:
    """The first articulation of the stream whose image shows both shoulders and both hips.

    The official data drops images lacking a shoulder or a hip; rejecting here keeps every
    sample usable for the part crops instead of wasting it later.
    """
    art = None
    for attempt in range(_MAX_TRIES):
        art = sample_articulation(np.random.default_rng([seed, stream, attempt]))
        if art == avoid:
            continue
        if not require_torso or layout(person, art, size).visible[[2, 5, 8, 11]].all():
            return art
    assert art is not None
    return art


def person_for(seed: int) -> SynthPerson:
    """The appearance parameters of sample `seed`."""
    return sample_person(np.random.default_rng([seed, _PERSON]))


def sample(seed: int, size: int = 128, require_torso: bool = True) -> SynthSample:
    """Synthetic person number `seed` at `size` x `size` pixels."""
    person = person_for(seed)
    art = _articulation(person, seed, _POSE, size, require_torso)
    return _render_sample(person, art, size, seed)


def sample_pair(seed: int, size: int = 128, require_torso: bool = True) -> tuple[SynthSample, SynthSample]:
    """The same person (and scene) in two different poses: a ground-truth re-posing pair."""
    person = person_for(seed)
    a = _articulation(person, seed, _POSE, size, require_torso)
    b = _articulation(person, seed, _SECOND_POSE, size, require_torso, avoid=a)
    return _render_sample(person, a, size, seed), _render_sample(person, b, size, seed)


def _render_sample(person: SynthPerson, art: Articulation, size: int, seed: int) -> SynthSample:
    lay = layout(person, art, size)
    img, mask = draw(person, lay)
    return SynthSample(img, lay.pose, mask, person, art, seed)
