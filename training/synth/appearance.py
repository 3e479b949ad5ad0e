"""Appearance of a synthetic person: body build, skin, hair, clothes, scene; and their sampler.

`SynthPerson` is everything about a sample that does not change when the person moves: the
same `SynthPerson` rendered under two articulations is a ground-truth re-posing pair. Colours
are RGB tuples of floats in 0..255 so the dataclasses stay frozen, hashable and picklable.
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np

from training.synth.body import BodyShape

RGB = tuple[float, float, float]

PATTERNS = ("solid", "stripes", "checks", "dots")  # plus "photo" (`training.synth.realism`)
TOPS = ("tshirt", "longsleeve", "tank")
BOTTOMS = ("trousers", "shorts", "skirt")
HAIR_STYLES = ("bald", "buzz", "short", "fringe", "bob", "long", "ponytail")
BACKGROUNDS = ("solid", "gradient", "noise", "room")  # plus "photo" (`training.synth.realism`)

# Skin tones from light to dark; a person's tone is a random point between two neighbours.
_SKIN = np.array(
    [
        [255, 224, 196],
        [241, 194, 160],
        [224, 172, 130],
        [198, 134, 92],
        [160, 102, 66],
        [112, 70, 44],
        [74, 46, 30],
    ],
    np.float64,
)
_HAIR = np.array(
    [
        [20, 17, 15],
        [45, 30, 22],
        [85, 55, 35],
        [130, 90, 55],
        [200, 160, 100],
        [150, 60, 30],
        [165, 160, 155],
    ],
    np.float64,
)
_HAIR_P = np.array([0.3, 0.25, 0.17, 0.1, 0.08, 0.05, 0.05])
# Common garment colours (photos of real clothing are dominated by these).
_CLOTH = np.array(
    [
        [25, 25, 30],  # black
        [235, 235, 230],  # white
        [128, 128, 132],  # grey
        [30, 40, 80],  # navy
        [70, 100, 150],  # denim
        [180, 30, 40],  # red
        [200, 180, 140],  # beige
        [90, 100, 50],  # olive
        [230, 150, 170],  # pink
        [230, 200, 60],  # yellow
        [40, 120, 70],  # green
        [100, 60, 40],  # brown
        [110, 30, 50],  # maroon
        [60, 150, 190],  # sky blue
        [240, 120, 40],  # orange
        [120, 70, 150],  # purple
    ],
    np.float64,
)


@dataclass(frozen=True)
class Pattern:
    """A garment's fabric: `kind` in PATTERNS, period in body units, angle of stripes."""

    kind: str
    colour: RGB
    colour2: RGB
    period: float = 0.05
    angle: float = 0.0  # 0: stripes across the garment (horizontal on an upright torso)
    duty: float = 0.5  # fraction of a period in colour2 (stripe/dot size)
    # kind "photo": fabric sampled from a texture (`training.synth.textures` name) at
    # tex_scale texture pixels per body unit; tint 1 keeps only its detail on `colour`,
    # 0 shows the photo's own colours.
    texture: str = ""
    tex_scale: float = 600.0
    tex_offset: tuple[float, float] = (0.0, 0.0)
    tint: float = 1.0


@dataclass(frozen=True)
class Garment:
    """A top (`kind` in TOPS) or a bottom (`kind` in BOTTOMS)."""

    kind: str
    pattern: Pattern
    length: float = 1.0  # sleeve length / shorts or skirt length as a fraction of the limb


@dataclass(frozen=True)
class Hair:
    style: str
    colour: RGB


@dataclass(frozen=True)
class Scene:
    """Background and lighting; kept with the person so a re-posing pair shares its scene."""

    kind: str
    colour: RGB
    colour2: RGB
    seed: int  # texture noise seed
    floor: float = 0.75  # floor line of a "room", fraction of the frame height
    light: float = 0.5  # light from the image's left (-1) .. right (+1)
    # kind "photo": a crop of texture `texture`: (x, y) position in [0, 1], zoom of its short side.
    texture: str = ""
    crop: tuple[float, float, float] = (0.5, 0.5, 1.0)
    flip: bool = False
    blur: float = 0.0  # depth of field: Gaussian sigma in pixels at 128 px


@dataclass(frozen=True)
class Footwear:
    """Shoes with their own look (`training.synth.realism`); without it, plain shoe capsules."""

    kind: str  # "shoes", "sneakers", "boots", "barefoot"
    sole: RGB
    height: float = 0.6  # boots: shaft height as a fraction of the shin
    socks: RGB | None = None  # bare shins only (shorts, skirts)
    sock_height: float = 0.3
    tucked: bool = False  # boots over the trousers


@dataclass(frozen=True)
class Face:
    """Facial detail (`training.synth.realism`); without it, dark eye spots and a mouth."""

    iris: RGB
    brow: RGB
    brow_width: float = 1.0
    strands: float = 0.2  # contrast of the hair's strands
    blush: float = 0.0


@dataclass(frozen=True)
class SynthPerson:
    """All appearance parameters of one synthetic person (the pose lives in `Articulation`)."""

    body: BodyShape
    skin: RGB
    hair: Hair
    top: Garment
    bottom: Garment
    shoes: RGB
    scene: Scene
    lips: RGB = (150.0, 70.0, 70.0)
    footwear: Footwear | None = None
    face: Face | None = None


def _rgb(c: np.ndarray) -> RGB:
    c = np.clip(c, 0, 255)
    return (float(c[0]), float(c[1]), float(c[2]))


def _jitter(rng: np.random.Generator, c: np.ndarray, amount: float = 18.0) -> np.ndarray:
    return c + rng.normal(0.0, amount, 3)


def _random_hue(rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]) -> np.ndarray:
    r, g, b = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return np.array([r, g, b]) * 255.0


def _cloth_colour(rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.75:
        return _jitter(rng, _CLOTH[rng.integers(len(_CLOTH))])
    return _random_hue(rng, (0.3, 0.9), (0.3, 0.95))


def _contrasting(rng: np.random.Generator, c: np.ndarray) -> np.ndarray:
    """A second fabric colour that differs clearly from `c` (a pattern must be visible)."""
    for _ in range(20):
        c2 = _cloth_colour(rng)
        if np.abs(c2 - c).sum() > 160:
            return c2
    return 255.0 - c


def sample_pattern(rng: np.random.Generator, plain_p: float = 0.45) -> Pattern:
    c = _cloth_colour(rng)
    kind = "solid" if rng.random() < plain_p else str(rng.choice(PATTERNS[1:], p=[0.45, 0.3, 0.25]))
    c2 = _contrasting(rng, c)
    period = float(rng.uniform(0.035, 0.075))
    angle = 0.0 if rng.random() < 0.7 else float(rng.choice([np.pi / 2, np.pi / 4, -np.pi / 4]))
    duty = float(rng.uniform(0.3, 0.55)) if kind != "dots" else float(rng.uniform(0.25, 0.45))
    return Pattern(kind, _rgb(c), _rgb(c2), period, angle, duty)


def sample_body(rng: np.random.Generator) -> BodyShape:
    femininity = rng.random()  # mixes broad-shouldered and broad-hipped builds
    leg = rng.normal(1.0, 0.04)
    arm = rng.normal(1.0, 0.04)
    return BodyShape(
        shoulder_width=float(np.clip(rng.normal(0.215 - 0.03 * femininity, 0.012), 0.16, 0.26)),
        hip_width=float(np.clip(rng.normal(0.115 + 0.025 * femininity, 0.01), 0.09, 0.16)),
        torso_length=float(np.clip(rng.normal(0.29, 0.012), 0.25, 0.33)),
        neck_length=float(np.clip(rng.normal(0.045, 0.008), 0.025, 0.07)),
        head_scale=float(np.clip(rng.normal(1.0, 0.05), 0.88, 1.15)),
        upper_arm=0.18 * arm,
        forearm=0.15 * arm,
        thigh=0.245 * leg,
        shin=0.245 * leg,
        build=float(np.clip(rng.normal(1.0, 0.12), 0.78, 1.4)),
        chest=float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.2)),
    )


def sample_scene(rng: np.random.Generator) -> Scene:
    kind = str(rng.choice(BACKGROUNDS, p=[0.2, 0.25, 0.25, 0.3]))
    if rng.random() < 0.4:  # studio-like light greys and whites, as in fashion photos
        v = rng.uniform(170, 250)
        c = np.array([v, v, v]) + rng.normal(0, 6, 3)
    else:
        c = _random_hue(rng, (0.05, 0.45), (0.35, 0.9))
    c2 = np.clip(c * rng.uniform(0.55, 0.95) + rng.normal(0, 15, 3), 0, 255)
    return Scene(
        kind=kind,
        colour=_rgb(c),
        colour2=_rgb(c2),
        seed=int(rng.integers(2**31)),
        floor=float(rng.uniform(0.6, 0.85)),
        light=float(rng.uniform(-1, 1)),
    )


def sample_person(rng: np.random.Generator) -> SynthPerson:
    """A random person; every random choice comes from `rng` (deterministic per generator)."""
    body = sample_body(rng)
    t = rng.uniform(0, len(_SKIN) - 1)
    i = int(t)
    skin = _SKIN[i] + (_SKIN[min(i + 1, len(_SKIN) - 1)] - _SKIN[i]) * (t - i)
    hair = Hair(
        style=str(rng.choice(HAIR_STYLES, p=[0.05, 0.1, 0.25, 0.12, 0.15, 0.2, 0.13])),
        colour=_rgb(_jitter(rng, _HAIR[rng.choice(len(_HAIR), p=_HAIR_P)], 8)),
    )
    top_kind = str(rng.choice(TOPS, p=[0.45, 0.4, 0.15]))
    top = Garment(
        top_kind,
        sample_pattern(rng, plain_p=0.4),
        length=float(rng.uniform(0.35, 0.6)) if top_kind == "tshirt" else 1.0,
    )
    bottom_kind = str(rng.choice(BOTTOMS, p=[0.6, 0.15, 0.25]))
    length = {"trousers": 1.0, "shorts": rng.uniform(0.45, 0.8), "skirt": rng.uniform(0.45, 1.4)}[bottom_kind]
    bottom = Garment(bottom_kind, sample_pattern(rng, plain_p=0.7), length=float(length))
    shoes = _rgb(_jitter(rng, _CLOTH[rng.choice([0, 1, 2, 3, 6, 11])], 10))
    lips = _rgb(skin * np.array([0.78, 0.55, 0.55]))
    return SynthPerson(body, _rgb(_jitter(rng, skin, 6)), hair, top, bottom, shoes, sample_scene(rng), lips)
