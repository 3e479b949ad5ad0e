"""Seeded samples for training: one image per seed, or a same-person re-posing pair.

Every random draw comes from a generator seeded by (seed, stream), so `sample(seed)` does
not depend on what was sampled before it, and `sample_pair(seed)[0]` is `sample(seed)`.
With `realism` (`training.synth.realism.Realism`) the photographic options are drawn from
one more stream, once per seed, so both images of a pair share them; with none active the
samples are exactly those without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from training.synth.appearance import SynthPerson, sample_person
from training.synth.body import Articulation
from training.synth.camera import apply as apply_camera
from training.synth.camera import shade
from training.synth.poses import sample_articulation
from training.synth.realism import Look, Realism, draw_look
from training.synth.renderer import background, draw, layout
from vunet_studio.pose import Pose

_PERSON, _POSE, _SECOND_POSE, _REALISM = 0, 1, 2, 3  # streams 4 and 5: the distractor
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
    look: Look | None = None  # the photographic options drawn for this seed, if any


def _articulation(
    person: SynthPerson,
    seed: int,
    stream: int,
    size: int,
    require_torso: bool,
    avoid: Articulation | None = None,
    framing: tuple[float, float, float] | None = None,
) -> Articulation:
    """The first articulation of the stream whose image shows both shoulders and both hips.

    The official data drops images lacking a shoulder or a hip; rejecting here keeps every
    sample usable for the part crops instead of wasting it later.
    """
    art = None
    for attempt in range(_MAX_TRIES):
        art = sample_articulation(np.random.default_rng([seed, stream, attempt]))
        if framing is not None:
            art = replace(art, scale=framing[0], dx=framing[1], dy=framing[2])
        if art == avoid:
            continue
        if not require_torso or layout(person, art, size).visible[[2, 5, 8, 11]].all():
            return art
    assert art is not None
    return art


def person_for(seed: int) -> SynthPerson:
    """The appearance parameters of sample `seed`."""
    return sample_person(np.random.default_rng([seed, _PERSON]))


def _person_and_look(seed: int, realism: Realism | None) -> tuple[SynthPerson, Look | None]:
    person = person_for(seed)
    if realism is None or not realism.active:
        return person, None
    return draw_look(person, np.random.default_rng([seed, _REALISM]), realism, seed)


def sample(
    seed: int, size: int = 128, require_torso: bool = True, realism: Realism | None = None
) -> SynthSample:
    """Synthetic person number `seed` at `size` x `size` pixels."""
    person, look = _person_and_look(seed, realism)
    framing = look.framing if look else None
    art = _articulation(person, seed, _POSE, size, require_torso, framing=framing)
    return _render_sample(person, art, size, seed, look)


def sample_pair(
    seed: int, size: int = 128, require_torso: bool = True, realism: Realism | None = None
) -> tuple[SynthSample, SynthSample]:
    """The same person (and scene, camera, framing) in two different poses: a ground-truth
    re-posing pair."""
    person, look = _person_and_look(seed, realism)
    framing = look.framing if look else None
    a = _articulation(person, seed, _POSE, size, require_torso, framing=framing)
    b = _articulation(person, seed, _SECOND_POSE, size, require_torso, avoid=a, framing=framing)
    return _render_sample(person, a, size, seed, look), _render_sample(person, b, size, seed, look)


def scene_image(person: SynthPerson, size: int, look: Look | None = None) -> np.ndarray:
    """The sample's scene without the person (uint8 RGB): the distractor, light and camera
    included, as a photo of the empty scene would show them. What the app composites onto."""
    bg = background(person.scene, size)
    if look is None:
        return np.clip(bg + 0.5, 0, 255).astype(np.uint8)
    img = np.clip(bg + 0.5, 0, 255).astype(np.uint8)
    if look.distractor is not None:
        other, other_art = look.distractor
        img, _ = draw(other, layout(other, other_art, size), bg=bg)
    if look.shading is not None:
        img = shade(img, *look.shading)
    return apply_camera(img, look.camera)


def _render_sample(
    person: SynthPerson, art: Articulation, size: int, seed: int, look: Look | None = None
) -> SynthSample:
    lay = layout(person, art, size)
    if look is None:
        img, mask = draw(person, lay)
        return SynthSample(img, lay.pose, mask, person, art, seed)
    bg = None
    if look.distractor is not None:
        # Drawn into the scene first, so the person passes in front of them and the mask
        # (the person's coverage only) never includes them.
        other, other_art = look.distractor
        scene_img, _ = draw(other, layout(other, other_art, size), bg=background(person.scene, size))
        bg = scene_img.astype(np.float32)
    img, mask = draw(person, lay, bg=bg)
    if look.shading is not None:
        img = shade(img, *look.shading)
    img = apply_camera(img, look.camera)
    return SynthSample(img, lay.pose, mask, person, art, seed, look)
