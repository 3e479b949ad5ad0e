"""Synthetic people: the project's offline training data (procedural, numpy + cv2, no torch).

from training.synth import sample, sample_pair, render
s = sample(seed, size=128)          # image, pose, mask, person, articulation
s = sample(seed, realism=REALISTIC) # photo backgrounds, camera effects, ... (`Realism`)
a, b = sample_pair(seed, size=128)  # same person, two poses
img, pose, mask = render(person, articulation, size)
"""

from __future__ import annotations

from training.synth.appearance import (
    Face,
    Footwear,
    Garment,
    Hair,
    Pattern,
    Scene,
    SynthPerson,
    sample_person,
)
from training.synth.body import Articulation, BodyShape
from training.synth.poses import sample_articulation
from training.synth.realism import REALISTIC, Realism
from training.synth.renderer import render
from training.synth.sampling import SynthSample, person_for, sample, sample_pair

__all__ = [
    "REALISTIC",
    "Articulation",
    "BodyShape",
    "Face",
    "Footwear",
    "Garment",
    "Hair",
    "Pattern",
    "Realism",
    "Scene",
    "SynthPerson",
    "SynthSample",
    "person_for",
    "render",
    "sample",
    "sample_articulation",
    "sample_pair",
    "sample_person",
]
