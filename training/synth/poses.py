"""Random articulations within plausible joint limits: standing, walking, gesturing, sitting.

The mix leans toward what fashion and pedestrian photos show (upright, facing or half-turned,
some back views), with a tail of larger movements so the model sees raised arms and bent legs.
"""

from __future__ import annotations

import math

import numpy as np

from training.synth.body import Articulation

# Joint limits (radians): (low, high).
SHOULDER_ABD = (-0.25, 2.8)
SHOULDER_FLEX = (-0.7, 2.0)
ELBOW = (0.0, 2.4)
ELBOW_TWIST = (-1.0, 1.0)
HIP_ABD = (-0.15, 0.7)
HIP_FLEX = (-0.5, 1.8)
KNEE = (0.0, 2.3)
HEAD_YAW = (-0.9, 0.9)
HEAD_PITCH = (-0.35, 0.45)
HEAD_ROLL = (-0.25, 0.25)

#: Standing height as a share of the frame (`Articulation.scale`). With it the joints (eyes to
#: ankles) span about 1 / `vunet_studio.framing.BOX_SCALE` (~0.74) of the frame: the app's box
#: around a photo's person shows it to the model as these people were framed in training
#: (`tests/test_synth.py` checks the tie).
STANDING_HEIGHT = (0.8, 0.97)

MODES = ("stand", "walk", "gesture", "sit", "free")
_MODE_P = (0.36, 0.26, 0.25, 0.04, 0.09)


def _clip(v: float, lim: tuple[float, float]) -> float:
    return float(min(max(v, lim[0]), lim[1]))


def _yaw(rng: np.random.Generator) -> float:
    u = rng.random()
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if u < 0.55:
        return float(rng.normal(0.0, 0.25))  # facing the camera
    if u < 0.80:
        return sign * float(rng.uniform(0.45, 1.0))  # three-quarter views
    if u < 0.85:
        return sign * float(rng.uniform(1.2, 1.7))  # profiles
    return float(math.pi + rng.normal(0.0, 0.35))  # back views


def _arm(rng: np.random.Generator, mode: str, swing: float) -> tuple[float, float, float, float]:
    if mode in ("stand", "walk"):
        abd, flex, elbow = rng.normal(0.12, 0.08), swing + rng.normal(0, 0.1), abs(rng.normal(0.25, 0.2))
        return (_clip(abd, SHOULDER_ABD), _clip(flex, SHOULDER_FLEX), _clip(elbow, ELBOW), 0.0)
    if mode == "gesture":
        kind = rng.integers(5)
        if kind == 0:  # hand on hip
            return (
                rng.uniform(0.5, 0.8),
                rng.uniform(-0.3, 0.0),
                rng.uniform(1.4, 1.9),
                rng.uniform(0.6, 1.0),
            )
        if kind == 1:  # raised
            return (
                rng.uniform(1.8, 2.8),
                rng.uniform(-0.2, 0.5),
                rng.uniform(0.0, 0.8),
                rng.uniform(-0.5, 0.5),
            )
        if kind == 2:  # reaching forward / holding something
            return (
                rng.uniform(0.0, 0.5),
                rng.uniform(0.6, 1.6),
                rng.uniform(0.0, 1.6),
                rng.uniform(-0.8, 0.2),
            )
        if kind == 3:  # out to the side
            return (
                rng.uniform(0.9, 1.7),
                rng.uniform(-0.3, 0.4),
                rng.uniform(0.0, 1.0),
                rng.uniform(-1.0, 1.0),
            )
        return (0.15, rng.uniform(-0.2, 0.3), rng.uniform(0.1, 0.6), 0.0)  # relaxed
    if mode == "sit":
        return (rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.9), rng.uniform(0.3, 1.5), rng.uniform(-0.8, 0.3))
    return (
        rng.uniform(*SHOULDER_ABD),
        rng.uniform(*SHOULDER_FLEX),
        rng.uniform(*ELBOW),
        rng.uniform(*ELBOW_TWIST),
    )


def _leg(rng: np.random.Generator, mode: str, swing: float) -> tuple[float, float, float]:
    if mode == "stand":
        return (
            _clip(rng.normal(0.05, 0.05), HIP_ABD),
            _clip(rng.normal(0, 0.06), HIP_FLEX),
            abs(rng.normal(0, 0.08)),
        )
    if mode == "walk":
        knee = rng.uniform(0.0, 0.3) + (0.5 * rng.random() if swing < 0 else 0.0)
        return (_clip(rng.normal(0.03, 0.03), HIP_ABD), _clip(swing, HIP_FLEX), _clip(knee, KNEE))
    if mode == "gesture":
        return (rng.uniform(0.0, 0.35), rng.uniform(-0.15, 0.3), rng.uniform(0.0, 0.4))
    if mode == "sit":
        flex = rng.uniform(1.0, 1.7)
        return (rng.uniform(0.0, 0.4), flex, _clip(flex + rng.normal(0, 0.3), KNEE))
    return (rng.uniform(*HIP_ABD), rng.uniform(-0.4, 1.2), rng.uniform(0.0, 1.6))


def sample_articulation(rng: np.random.Generator) -> Articulation:
    """A random pose within the joint limits above."""
    mode = str(rng.choice(MODES, p=_MODE_P))
    step = rng.uniform(0.15, 0.5) if mode == "walk" else 0.0
    arm_swing = -0.6 * step  # arms swing against the legs
    r_leg = _leg(rng, mode, step)
    l_leg = _leg(rng, mode, -step)
    return Articulation(
        yaw=_yaw(rng),
        pitch=_clip(rng.normal(0.05, 0.08) + (0.2 if mode == "sit" else 0.0), (-0.15, 0.5)),
        lean=_clip(rng.normal(0, 0.06), (-0.2, 0.2)),
        head_yaw=_clip(rng.normal(0, 0.3), HEAD_YAW),
        head_pitch=_clip(rng.normal(0.05, 0.12), HEAD_PITCH),
        head_roll=_clip(rng.normal(0, 0.08), HEAD_ROLL),
        r_arm=tuple(float(v) for v in _arm(rng, mode, arm_swing)),  # type: ignore[arg-type]
        l_arm=tuple(float(v) for v in _arm(rng, mode, -arm_swing)),  # type: ignore[arg-type]
        r_leg=tuple(float(v) for v in r_leg),  # type: ignore[arg-type]
        l_leg=tuple(float(v) for v in l_leg),  # type: ignore[arg-type]
        scale=float(rng.uniform(*STANDING_HEIGHT)),
        dx=float(rng.normal(0, 0.03)),
        dy=float(rng.normal(0, 0.025)),
        roll=float(rng.normal(0, 0.03)),
    )
