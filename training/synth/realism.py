"""Options that make synthetic people look more like photographs, and their per-sample draw.

`Realism` is the set of knobs (each a probability, 0 = off; all 0 renders exactly the
original synthetic people, bit for bit). `draw_look` makes every random choice for one seed
from its own stream, so `sample_pair` shows one scene, camera, framing, distractor and set
of textures in both poses: only the articulation differs. The same numbers are drawn
whatever the probabilities, so turning one knob on does not reshuffle the others' choices.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

import numpy as np

from training.synth import textures
from training.synth.appearance import Face, Footwear, Garment, Pattern, SynthPerson, sample_person
from training.synth.body import Articulation
from training.synth.camera import Camera
from training.synth.poses import sample_articulation


@dataclass(frozen=True)
class Realism:
    """Probabilities (per sample) of each photographic option; `texture_dir` is where photos are."""

    photo_background: float = 0.0  # the scene is a photo crop (procedural stand-in without photos)
    photo_texture: float = 0.0  # per garment: fabric from a photo, tinted to the garment colour
    shading: float = 0.0  # light falling across the frame, vignetting
    face: float = 0.0  # eyes with whites and irises, brows, nose shadow, fuller lips
    footwear: float = 0.0  # shoes with soles, sneakers, boots over the shins, bare feet, socks
    noise: float = 0.0
    blur: float = 0.0
    jpeg: float = 0.0
    exposure: float = 0.0
    white_balance: float = 0.0
    grayscale: float = 0.0
    low_light: float = 0.0
    small: float = 0.0  # the person small in the frame (a third to two thirds of its height)
    cut: float = 0.0  # the person cut by a frame edge (zoomed in, shifted)
    upper_body: float = 0.0  # head to hips only (the legs leave the frame)
    distractor: float = 0.0  # a second person in the scene, behind (never in the mask)
    texture_dir: str | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "texture_dir" and not (isinstance(v, (int, float)) and 0.0 <= v <= 1.0):
                raise ValueError(f"realism.{f.name} must be a probability in [0, 1], got {v!r}")

    @property
    def active(self) -> bool:
        return any(getattr(self, f.name) for f in fields(self) if f.name != "texture_dir")

    @classmethod
    def from_mapping(cls, d: Mapping[str, object], texture_dir: str | None = None) -> Realism:
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(
                f"unknown realism option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
            )
        return cls(**{**d, "texture_dir": d.get("texture_dir", texture_dir)})  # type: ignore[arg-type]


#: All options at once, as `training/configs/realistic128.yaml` uses them.
REALISTIC = Realism(
    photo_background=0.7,
    photo_texture=0.35,
    shading=0.5,
    face=0.8,
    footwear=0.8,
    noise=0.4,
    blur=0.25,
    jpeg=0.4,
    exposure=0.4,
    white_balance=0.4,
    grayscale=0.08,
    low_light=0.08,
    small=0.1,
    cut=0.1,
    upper_body=0.1,
    distractor=0.15,
)


@dataclass(frozen=True)
class Look:
    """The per-sample photographic choices that are not part of the person."""

    camera: Camera = field(default_factory=Camera)
    shading: tuple[float, float, float] | None = None  # direction (rad), strength, vignette
    framing: tuple[float, float, float] | None = None  # scale, dx, dy of every pose of the sample
    distractor: tuple[SynthPerson, Articulation] | None = None


def _photo_pattern(rng: np.random.Generator, p: Pattern, texture_dir: str | None) -> Pattern:
    name = textures.pick(rng, texture_dir)
    scale = float(math.exp(rng.uniform(math.log(250), math.log(1400))))  # texture px per body unit
    off = (float(rng.uniform(0, 4096)), float(rng.uniform(0, 4096)))
    # Mostly the garment's colour carrying the photo's detail; sometimes the photo's colours
    # (prints, camouflage, florals).
    tint = 1.0 if rng.random() < 0.7 else float(rng.uniform(0.0, 0.5))
    return replace(p, kind="photo", texture=name, tex_scale=scale, tex_offset=off, tint=tint)


def _footwear(rng: np.random.Generator, person: SynthPerson) -> Footwear:
    kind = str(rng.choice(("shoes", "sneakers", "boots", "barefoot"), p=[0.35, 0.35, 0.22, 0.08]))
    sole = (235.0, 235.0, 230.0) if kind == "sneakers" else (35.0, 30.0, 28.0)
    if rng.random() < 0.3:
        sole = person.shoes
    socks = None
    if rng.random() < 0.5:
        v = float(rng.choice([30.0, 235.0, 120.0]))
        socks = (v, v, v) if rng.random() < 0.7 else person.top.pattern.colour
    return Footwear(
        kind=kind,
        sole=sole,
        height=float(rng.uniform(0.3, 0.95)),
        socks=socks,
        sock_height=float(rng.uniform(0.1, 0.6)),
        tucked=bool(rng.random() < 0.4),
    )


def _face(rng: np.random.Generator, person: SynthPerson) -> Face:
    iris_kinds = np.array([[60, 35, 20], [100, 65, 35], [70, 100, 120], [80, 110, 70], [30, 20, 15]], float)
    iris = iris_kinds[rng.integers(len(iris_kinds))]
    hair = np.asarray(person.hair.colour)
    brow = hair * 0.8 if person.hair.style != "bald" else np.asarray(person.skin) * 0.45
    return Face(
        iris=(float(iris[0]), float(iris[1]), float(iris[2])),
        brow=(float(brow[0]), float(brow[1]), float(brow[2])),
        brow_width=float(rng.uniform(0.7, 1.4)),
        strands=float(rng.uniform(0.1, 0.35)),
        blush=float(rng.uniform(0.0, 0.12)),
    )


def draw_look(
    person: SynthPerson, rng: np.random.Generator, r: Realism, seed: int
) -> tuple[SynthPerson, Look]:
    """The person with their photographic options applied, and the sample's `Look`."""
    u = rng.random(16)  # one decision per option, always drawn (see the module docstring)
    # Scene.
    bg_name = textures.pick(rng, r.texture_dir)
    crop = (float(rng.random()), float(rng.random()), float(rng.uniform(0.35, 1.0)))
    flip = bool(rng.random() < 0.5)
    bg_blur = float(rng.uniform(0.0, 1.8)) if rng.random() < 0.5 else 0.0
    if u[0] < r.photo_background:
        scene = replace(person.scene, kind="photo", texture=bg_name, crop=crop, flip=flip, blur=bg_blur)
        person = replace(person, scene=scene)
    # Garments (one decision each, from the same u: top below, bottom above half of it).
    top_p = _photo_pattern(rng, person.top.pattern, r.texture_dir)
    bottom_p = _photo_pattern(rng, person.bottom.pattern, r.texture_dir)
    u_bottom = rng.random()
    if u[1] < r.photo_texture:
        person = replace(person, top=Garment(person.top.kind, top_p, person.top.length))
    if u_bottom < r.photo_texture:
        person = replace(person, bottom=Garment(person.bottom.kind, bottom_p, person.bottom.length))
    foot = _footwear(rng, person)
    face = _face(rng, person)
    if u[2] < r.footwear:
        person = replace(person, footwear=foot)
    if u[3] < r.face:
        person = replace(person, face=face)

    shading = (
        float(rng.uniform(-math.pi, math.pi)),
        float(rng.uniform(0.1, 0.35)),
        float(rng.uniform(0.0, 0.6)),
    )
    # Framing: one of small / cut / upper body, in the order of their knobs.
    small = (float(rng.uniform(0.35, 0.65)), float(rng.uniform(-1, 1)), float(rng.uniform(-1, 1)))
    cut = (float(rng.uniform(0.95, 1.35)), float(rng.uniform(0.12, 0.35)), float(rng.uniform(-0.05, 0.2)))
    cut_side = 1.0 if rng.random() < 0.5 else -1.0
    upper_scale = float(rng.uniform(1.35, 1.7))
    upper = (
        upper_scale,
        float(rng.normal(0, 0.04)),
        0.5 * upper_scale - 0.45 + float(rng.uniform(-0.03, 0.02)),
    )
    framing = None
    v = u[4]
    if v < r.small:
        s, fx, fy = small
        room = (1.0 - s) / 2  # keep the small person inside the frame
        framing = (s, fx * room * 0.8, fy * room * 0.8)
    elif v < r.small + r.cut:
        framing = (cut[0], cut_side * cut[1], cut[2])
    elif v < r.small + r.cut + r.upper_body:
        framing = upper

    # The distractor: another person, smaller (farther away), to one side, behind. Their
    # appearance and pose come from streams of their own, drawn only when needed.
    d_scale = float(rng.uniform(0.4, 0.85))
    d_side = 1.0 if rng.random() < 0.5 else -1.0
    d_dx = d_side * float(rng.uniform(0.28, 0.5))
    distractor = None
    if u[5] < r.distractor:
        d_person = sample_person(np.random.default_rng([seed, 4]))
        d_art = sample_articulation(np.random.default_rng([seed, 5]))
        distractor = (d_person, replace(d_art, scale=d_scale, dx=d_dx, dy=-(0.9 - d_scale) * 0.35))

    cam_seed = int(rng.integers(2**31))
    wb = tuple(float(np.clip(1 + 0.12 * w, 0.7, 1.3)) for w in rng.normal(0, 1, 3))
    exposure = float(math.exp(rng.normal(0, 0.3)))
    low_light = float(rng.uniform(0.3, 0.6))
    blur = float(rng.uniform(0.4, 1.4))
    noise = float(rng.uniform(1.5, 8.0))
    quality = int(rng.integers(25, 90))
    camera = Camera(
        exposure=exposure if u[6] < r.exposure else 1.0,
        white_balance=wb if u[7] < r.white_balance else (1.0, 1.0, 1.0),  # type: ignore[arg-type]
        low_light=low_light if u[8] < r.low_light else 0.0,
        blur=blur if u[9] < r.blur else 0.0,
        noise=noise if u[10] < r.noise else 0.0,
        grayscale=bool(u[11] < r.grayscale),
        jpeg=quality if u[12] < r.jpeg else 0,
        seed=cam_seed,
    )
    look = Look(
        camera=camera,
        shading=shading if u[13] < r.shading else None,
        framing=framing,
        distractor=distractor,
    )
    return person, look
