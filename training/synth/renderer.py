"""Procedural 2D renderer of a posed synthetic person, plus the pose it shows.

Owns the drawing: background, body parts as shaded, anti-aliased capsules and polygons drawn
far-to-near (painter's algorithm on camera depth), fabric patterns in part-local coordinates,
a ray-cast head ellipsoid for hair and face, and the per-joint visibility that follows from
the drawing (face joints turned away, limb joints behind the torso, joints out of frame).
numpy + cv2 only: it feeds training on the fly, so every part is drawn on its bounding box.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from training.synth import textures
from training.synth.appearance import Face, Pattern, Scene, SynthPerson
from training.synth.body import Articulation, BodyShape, Skeleton3D, skeleton_3d
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX, NUM_JOINTS

J = JOINT_INDEX
_LIMB_JOINTS = ("relbow", "rwrist", "lelbow", "lwrist", "rknee", "rankle", "lknee", "lankle")
_TORSO_JOINTS = ("rshoulder", "lshoulder", "rhip", "lhip")
# How far a face joint's surface normal may turn from the camera before it counts as hidden.
_FACE_MIN_NZ = {"cnose": 0.0, "reye": 0.2, "leye": 0.2, "rear": -0.3, "lear": -0.3}
# Hairline (unit-head y, down positive) at the face (front) and at the back of the head.
_HAIRLINE = {
    "buzz": (-0.6, 0.1),
    "short": (-0.5, 0.35),
    "fringe": (-0.1, 0.45),
    "bob": (-0.4, 0.95),
    "long": (-0.45, 1.2),
    "ponytail": (-0.55, 0.45),
}


@dataclass
class Layout:
    """Where everything is in the image: what `render` draws and the pose it reports."""

    size: int
    ppu: float  # pixels per body unit
    origin: np.ndarray  # (2,) pixel position of the body origin (hip midpoint)
    skel: Skeleton3D
    joints_px: np.ndarray  # (18, 2) float32
    visible: np.ndarray  # (18,) bool
    torso_poly: np.ndarray  # (N, 2) float32 pixels
    torso_z: float
    spine_up: np.ndarray  # (2,) image unit vector from the hips toward the neck
    across: np.ndarray  # (2,) image unit vector perpendicular to spine_up
    section_hw: tuple[float, float, float] = field(
        default=(0.0, 0.0, 0.0)
    )  # shoulder, waist, hip half-widths (units)
    section_c: np.ndarray = field(default_factory=lambda: np.zeros((3, 2)))  # section centres, pixels

    def px(self, p: np.ndarray) -> np.ndarray:
        """Project camera-frame points (..., 3) to pixels (..., 2)."""
        return np.asarray(p)[..., :2] * self.ppu + self.origin

    @property
    def pose(self) -> Pose:
        return Pose(self.joints_px, self.visible, (self.size, self.size))


def layout(person: SynthPerson, art: Articulation, size: int) -> Layout:
    """Pose the body, frame it, and work out which joints the image shows."""
    b = person.body
    skel = skeleton_3d(b, art)
    head_top = skel.head_center - np.array([0.0, skel.head_radii[1] * 1.1, 0.0])
    pts = np.concatenate([skel.joints, head_top[None], skel.toes, skel.heels, skel.hands])[:, :2]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    ppu = art.scale * size
    centre = np.array([size / 2 + art.dx * size, size / 2 + art.dy * size])
    origin = centre - (lo + hi) / 2 * ppu

    lay = Layout(
        size,
        ppu,
        origin,
        skel,
        np.zeros((NUM_JOINTS, 2), np.float32),
        np.ones(NUM_JOINTS, bool),
        np.zeros((0, 2), np.float32),
        0.0,
        np.zeros(2),
        np.zeros(2),
    )
    _torso_geometry(lay, b)
    lay.joints_px = lay.px(skel.joints).astype(np.float32)

    vis = np.ones(NUM_JOINTS, bool)
    for name, lim in _FACE_MIN_NZ.items():
        vis[J[name]] = skel.face_normal_z[name] > lim
    poly = lay.torso_poly.reshape(-1, 1, 2).astype(np.float32)
    for name in _LIMB_JOINTS:
        x, y = lay.joints_px[J[name]]
        inside = cv2.pointPolygonTest(poly, (float(x), float(y)), True)
        if inside > 0.01 * ppu and skel.joints[J[name], 2] < lay.torso_z - 0.03:
            vis[J[name]] = False
    # Shoulders and hips sit on the torso's outline, so test them across the torso only: the
    # far one is hidden once it is well inside its section's silhouette (about 60-75 degrees
    # of yaw), which is where annotators stop marking it.
    for name in _TORSO_JOINTS:
        sec = 0 if name.endswith("shoulder") else 2
        off = abs(float((lay.joints_px[J[name]] - lay.section_c[sec]) @ lay.across)) / ppu
        if off < 0.4 * lay.section_hw[sec] and skel.joints[J[name], 2] < lay.torso_z - 0.02:
            vis[J[name]] = False
    xy = lay.joints_px
    vis &= (xy[:, 0] >= 0) & (xy[:, 0] <= size - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= size - 1)
    # The neck is the shoulder midpoint (as everywhere in the project): it exists with both shoulders.
    vis[J["cneck"]] = vis[J["rshoulder"]] and vis[J["lshoulder"]] and vis[J["cneck"]]
    lay.visible = vis
    return lay


def _torso_geometry(lay: Layout, body: BodyShape) -> None:
    """The torso's outline: three elliptic cross-sections (shoulders, waist, hips) projected."""
    skel = lay.skel
    U, L = skel.upper_rot, skel.lower_rot
    neck = skel.joints[J["cneck"]]
    hip_mid = (skel.joints[J["rhip"]] + skel.joints[J["lhip"]]) / 2
    sh_c = neck + U @ np.array([0.0, 0.012, 0.0])
    hip_c = hip_mid + L @ np.array([0.0, 0.035, 0.0])
    waist_c = hip_mid + U @ np.array([0.0, -0.4 * body.torso_length, 0.0])
    up = lay.px(neck) - lay.px(hip_mid)
    n = float(np.linalg.norm(up))
    spine_up = up / n if n > 1e-6 else np.array([0.0, -1.0])
    across = np.array([-spine_up[1], spine_up[0]])  # image-right for an upright person

    bw = body.build
    a_s = body.shoulder_width / 2 + 0.03 * bw * body.chest
    c_s = 0.07 * bw * body.chest
    a_h = body.hip_width / 2 + 0.055 * bw
    c_h = 0.068 * bw
    a_w = 0.47 * (a_s + a_h) + 0.02 * (bw - 1.0)
    c_w = 0.06 * bw

    def half(a: float, c: float, R: np.ndarray) -> float:
        ex, ez = R[:2, 0], R[:2, 2]
        return math.hypot(a * float(ex @ across), c * float(ez @ across))

    hs, hw, hh = half(a_s, c_s, U), half(a_w, c_w, U), half(a_h, c_h, L)
    cs, cw, ch = lay.px(sh_c), lay.px(waist_c), lay.px(hip_c)
    k = lay.ppu
    neck_w = 0.035 * bw
    poly = [
        cs + (-neck_w * across + 0.03 * spine_up) * k,
        cs + (-hs * across - 0.005 * spine_up) * k,
        cw - hw * across * k,
        ch - hh * across * k,
        ch + hh * across * k,
        cw + hw * across * k,
        cs + (hs * across - 0.005 * spine_up) * k,
        cs + (neck_w * across + 0.03 * spine_up) * k,
    ]
    lay.torso_poly = np.array(poly, np.float32)
    lay.torso_z = float((sh_c[2] + waist_c[2] + hip_c[2]) / 3)
    lay.spine_up, lay.across = spine_up, across
    lay.section_hw = (hs, hw, hh)
    lay.section_c = np.array([cs, cw, ch])


# --------------------------------------------------------------------------- fabric


def _smooth_band(s: np.ndarray, period: float, duty: float, px_per_period: float) -> np.ndarray:
    """1 inside a band of `duty` * period around each multiple of period, anti-aliased."""
    edge = math.cos(math.pi * duty)
    slope = 2 * math.pi / max(px_per_period, 1e-3) * max(math.sin(math.pi * duty), 0.2)
    return np.clip((np.cos(s * (2 * math.pi / period)) - edge) / slope + 0.5, 0.0, 1.0)


def fabric(p: Pattern, u: np.ndarray, v: np.ndarray, ppu: float) -> np.ndarray:
    """Colour (h, w, 3) of fabric `p` at garment coordinates u (across), v (along), body units."""
    c1 = np.asarray(p.colour, np.float32)
    if p.kind == "solid":
        return np.broadcast_to(c1, (*np.broadcast_shapes(u.shape, v.shape), 3))
    if p.kind == "photo":
        return _photo_fabric(p, c1, u, v, ppu)
    c2 = np.asarray(p.colour2, np.float32)
    P = p.period
    ca, sa = math.cos(p.angle), math.sin(p.angle)
    s = v * ca + u * sa
    if p.kind == "stripes":
        w = _smooth_band(s, P, p.duty, P * ppu)
    elif p.kind == "checks":
        t = -u * sa + v * ca if p.angle else u
        a = _smooth_band(s, P, 0.5, P * ppu)
        bb = _smooth_band(t, P, 0.5, P * ppu)
        w = a + bb - 2 * a * bb  # XOR of two stripe sets
    else:  # dots, on a grid whose alternate rows are shifted half a period
        row = np.floor(s / P + 0.5)
        t = (u if not p.angle else -u * sa + v * ca) + 0.5 * P * (row % 2)
        du = (t / P - np.floor(t / P + 0.5)) * P
        dv = (s / P - row) * P
        dist = np.sqrt(du * du + dv * dv) * ppu
        w = np.clip(p.duty * 0.5 * P * ppu - dist + 0.5, 0.0, 1.0)
    w = np.asarray(w, np.float32)[..., None]
    return c1 + (c2 - c1) * w


_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _photo_fabric(p: Pattern, c1: np.ndarray, u: np.ndarray, v: np.ndarray, ppu: float) -> np.ndarray:
    uu, vv = np.broadcast_arrays(u, v)
    # Sample a texture level with about one texture pixel per image pixel: cv2.remap does not
    # filter, and sampling a full-size photo sparsely would alias into noise.
    level = int(max(math.floor(math.log2(max(p.tex_scale / max(ppu, 1e-3), 1.0))), 0))
    name = p.texture if level == 0 else f"{p.texture}#{level}"
    f = p.tex_scale / (1 << level)
    tex = textures.sample_at(name, uu * f + p.tex_offset[0], vv * f + p.tex_offset[1])
    if p.tint <= 0:
        return tex
    # The garment's colour carrying the photo's light and dark: keeps colour under control
    # (the model must learn colours from the appearance) while adding real-world detail.
    lum = np.clip((tex @ _LUMA) / textures.mean_luma(p.texture), 0.35, 1.8)[..., None]
    detail = c1 * lum
    return detail if p.tint >= 1 else detail * p.tint + tex * (1.0 - p.tint)


# --------------------------------------------------------------------------- canvas


class _Canvas:
    """The image being drawn (float32 RGB) and the person's coverage (alpha)."""

    def __init__(self, bg: np.ndarray) -> None:
        self.img = bg.astype(np.float32)
        self.size = bg.shape[0]
        self.alpha = np.zeros(bg.shape[:2], np.float32)

    def box(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int, int] | None:
        x0, y0 = max(math.floor(lo[0]) - 1, 0), max(math.floor(lo[1]) - 1, 0)
        x1, y1 = min(math.ceil(hi[0]) + 2, self.size), min(math.ceil(hi[1]) + 2, self.size)
        return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None

    def put(self, box: tuple[int, int, int, int], colour: np.ndarray, a: np.ndarray) -> None:
        x0, y0, x1, y1 = box
        reg = self.img[y0:y1, x0:x1]
        a3 = a[..., None]
        reg += (colour - reg) * a3
        al = self.alpha[y0:y1, x0:x1]
        np.maximum(al, a, out=al)


def _grid(box: tuple[int, int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = box
    return np.arange(x0, x1, dtype=np.float32)[None, :], np.arange(y0, y1, dtype=np.float32)[:, None]


def _capsule(
    cv: _Canvas,
    p0: np.ndarray,
    p1: np.ndarray,
    r0: float,
    r1: float,
    colour: Callable[[np.ndarray, np.ndarray], np.ndarray],
    light: float,
    ppu: float,
    v0: float = 0.0,
) -> None:
    """A tapered capsule p0->p1 (pixels, radii in pixels), cylinder-shaded, fabric along its axis."""
    r = max(r0, r1)
    box = cv.box(np.minimum(p0, p1) - r, np.maximum(p0, p1) + r)
    if box is None:
        return
    x, y = _grid(box)
    d = p1 - p0
    L2 = float(d @ d)
    rx, ry = x - float(p0[0]), y - float(p0[1])
    if L2 < 1e-6:
        t = np.zeros_like(rx + ry)
        perp = np.zeros_like(t)
    else:
        t = np.clip((rx * float(d[0]) + ry * float(d[1])) / L2, 0.0, 1.0)
        perp = (ry * float(d[0]) - rx * float(d[1])) / math.sqrt(L2)  # signed, + is image-left of p0->p1
    ex, ey = rx - t * float(d[0]), ry - t * float(d[1])
    dist = np.sqrt(ex * ex + ey * ey)
    rad = r0 + (r1 - r0) * t
    a = np.clip(rad - dist + 0.5, 0.0, 1.0)
    if not a.any():
        return
    across = np.clip(perp / np.maximum(rad, 0.5), -1.0, 1.0)
    # Light from the side `light` points to: the perpendicular's sign flips with the limb direction.
    lx = float(d[1]) / math.sqrt(L2) if L2 >= 1e-6 else 0.0
    shade = 1.0 - 0.32 * across * across - 0.12 * light * lx * across
    col = colour(perp / ppu, (t * math.sqrt(L2)) / ppu + v0) * shade[..., None]
    cv.put(box, col, a)


def _polygon(cv: _Canvas, poly: np.ndarray, colour: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    """A filled anti-aliased polygon (pixels); `colour(x, y)` gets pixel grids and returns RGB."""
    box = cv.box(poly.min(axis=0), poly.max(axis=0))
    if box is None:
        return
    x0, y0, x1, y1 = box
    m = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel vertices
    pts = np.round((poly - (x0, y0)) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(m, [pts], 255, cv2.LINE_AA, shift)
    a = m.astype(np.float32) * (1.0 / 255.0)
    x, y = _grid(box)
    cv.put(box, colour(x, y), a)


def _ellipsoid(
    cv: _Canvas,
    centre: np.ndarray,
    M: np.ndarray,
    R: np.ndarray,
    shader: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None]],
) -> None:
    """Ray-cast an ellipsoid (centre in pixels, M: its frame -> camera, R: semi-axes in pixels).

    `shader(qn, n)` gets the front-surface point on the unit sphere in the ellipsoid's frame
    (3, h, w) and the camera-frame unit normal (3, h, w); it returns RGB and an optional
    coverage factor (hair covers only part of the head).
    """
    r = float(R.max())
    box = cv.box(centre - r, centre + r)
    if box is None:
        return
    x, y = _grid(box)
    dx, dy = x - float(centre[0]), y - float(centre[1])
    Mt = M.T
    w = Mt[:, 2] / R
    q0 = [(Mt[i, 0] * dx + Mt[i, 1] * dy) / R[i] for i in range(3)]  # (h, w) each, unit-sphere scale
    A = float(w @ w)
    B = 2 * (q0[0] * w[0] + q0[1] * w[1] + q0[2] * w[2])
    C = q0[0] * q0[0] + q0[1] * q0[1] + q0[2] * q0[2] - 1.0
    m = C - B * B / (4 * A)
    g = np.sqrt(np.maximum(m + 1.0, 0.0))
    reff = float(min(R[0], R[1]))
    a = np.clip((1.0 - g) * reff + 0.5, 0.0, 1.0)
    if not a.any():
        return
    z = (-B + np.sqrt(np.maximum(B * B - 4 * A * C, 0.0))) / (2 * A)
    qn = np.stack([q0[i] + w[i] * z for i in range(3)])  # (3, h, w) on the unit sphere
    nrm = np.tensordot(M, qn / R[:, None, None], axes=1)  # camera-frame normal (unnormalised)
    nrm /= np.maximum(np.sqrt((nrm * nrm).sum(axis=0)), 1e-6)
    col, cover = shader(qn, nrm)
    if cover is not None:
        a = a * cover
    cv.put(box, col, a.astype(np.float32))


# --------------------------------------------------------------------------- background


def background(scene: Scene, size: int) -> np.ndarray:
    """The scene behind the person (float32 RGB, size x size)."""
    if scene.kind == "photo":
        x, y, zoom = scene.crop
        img = textures.crop(scene.texture, size, x, y, zoom, scene.flip)
        if scene.blur > 0:
            img = cv2.GaussianBlur(img, (0, 0), scene.blur * size / 128)
        return img
    c1 = np.asarray(scene.colour, np.float32)
    c2 = np.asarray(scene.colour2, np.float32)
    ys = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None, None]
    if scene.kind == "solid":
        return np.broadcast_to(c1, (size, size, 3)).copy()
    if scene.kind == "gradient":
        return np.broadcast_to(c1 + (c2 - c1) * ys, (size, size, 3)).copy()
    rng = np.random.default_rng(scene.seed)
    if scene.kind == "noise":
        cells = int(rng.integers(3, 9))
        low = rng.random((cells, cells)).astype(np.float32)
        t = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)[..., None]
        grain = cv2.resize(rng.normal(0, 6, (size // 2, size // 2)).astype(np.float32), (size, size))[
            ..., None
        ]
        return np.clip(c1 + (c2 - c1) * t + grain, 0, 255)
    # A room: a wall with faint vertical texture, a floor getting darker toward the camera.
    floor = int(scene.floor * size)
    img = np.empty((size, size, 3), np.float32)
    tex = cv2.resize(rng.normal(0, 5, (1, max(size // 8, 2))).astype(np.float32), (size, size))[..., None]
    img[:floor] = c1 + tex[:floor]
    fy = np.linspace(0.0, 1.0, size - floor, dtype=np.float32)[:, None, None]
    img[floor:] = c2 * (1.0 - 0.25 * fy)
    edge = max(size // 64, 1)
    img[max(floor - edge, 0) : floor] = c2 * 0.7  # skirting board
    return img


# --------------------------------------------------------------------------- person


def _contact_shadow(cv: _Canvas, lay: Layout) -> None:
    """A soft dark ellipse on the ground under the feet: grounds the figure in its scene."""
    feet = lay.px(np.concatenate([lay.skel.toes, lay.skel.heels]))
    ground = float(feet[:, 1].max())
    cx = float(feet[:, 0].mean())
    half_w = (float(np.ptp(feet[:, 0])) / 2 + 0.07 * lay.ppu) * 1.1
    half_h = max(0.025 * lay.ppu, 1.5)
    box = cv.box(
        np.array([cx - half_w * 1.5, ground - half_h * 3]), np.array([cx + half_w * 1.5, ground + half_h * 3])
    )
    if box is None:
        return
    x, y = _grid(box)
    d = ((x - cx) / half_w) ** 2 + ((y - ground + 0.3 * half_h) / half_h) ** 2
    dark = 0.4 * np.exp(-1.5 * d)
    x0, y0, x1, y1 = box
    cv.img[y0:y1, x0:x1] *= (1.0 - dark)[..., None]


def _hair_cover(style: str, qn: np.ndarray) -> np.ndarray:
    front, back = _HAIRLINE[style]
    line = front + (back - front) * (1.0 - qn[2]) * 0.5
    return np.clip((line - qn[1]) * 12.0 + 0.5, 0.0, 1.0)


def _strands(qn: np.ndarray, contrast: float) -> np.ndarray:
    """Hair strands: brightness ripples across the head, wavy from crown to ends."""
    lon = np.arctan2(qn[0], qn[2])
    return 1.0 + contrast * np.sin(lon * 23.0 + 3.0 * np.sin(qn[1] * 5.0)) * (0.6 + 0.4 * np.cos(lon * 7.0))


def _spot(d2: np.ndarray, r2: float) -> np.ndarray:
    return np.clip((r2 - d2) * (60.0 / r2), 0.0, 1.0)[..., None]


def _face_detail(
    face: Face, person: SynthPerson, qn: np.ndarray, n: np.ndarray, col: np.ndarray, light: float
) -> np.ndarray:
    """Eyes (white, iris, pupil), brows, nose shadow, two-tone lips and cheeks on the head's
    surface (unit-sphere coordinates qn), so they turn, foreshorten and hide with the head."""
    x, y, z = qn[0], qn[1], qn[2]
    front = np.clip(z * 4.0 - 2.4, 0.0, 1.0)[..., None]  # fades out toward the sides
    if face.blush > 0:
        for ex in (-0.45, 0.45):
            c = _spot((x - ex) ** 2 + (y - 0.2) ** 2, 0.03) * (face.blush * 0.3)
            col = col + (np.array([200.0, 90.0, 90.0], np.float32) - col) * c * front
    # Nose: a shadow on the side away from the light and under the tip.
    nose = _spot(x * x * 3.0 + (y - 0.12) ** 2 * 1.2, 0.02) * 0.22
    col = col * (1.0 - nose * front)
    for ex in (-0.36, 0.36):
        dx, dy = x - ex, y + 0.1
        white = _spot(dx * dx * 0.8 + dy * dy * 3.2, 0.022)
        col = col + (np.array([232.0, 226.0, 220.0], np.float32) - col) * white * front
        iris = _spot(dx * dx + dy * dy * 1.2, 0.0065)
        col = col + (np.asarray(face.iris, np.float32) - col) * iris * front
        pupil = _spot(dx * dx + dy * dy, 0.0018)
        col = col + (np.float32(15.0) - col) * pupil * front
        bx, by = x - ex * 1.05, y + 0.3 + 0.25 * (x - ex) * np.sign(ex) * 0.4
        brow = _spot(bx * bx * 0.9 + by * by * 14.0 / face.brow_width, 0.02)
        col = col + (np.asarray(face.brow, np.float32) - col) * brow * 0.9 * front
    lips = np.asarray(person.lips, np.float32)
    upper = _spot((x / 2.0) ** 2 + (y - 0.46) ** 2 * 14, 0.012)
    lower = _spot((x / 2.2) ** 2 + (y - 0.53) ** 2 * 10, 0.012)
    col = col + (lips * 0.8 - col) * upper * front
    col = col + (lips * 1.05 - col) * lower * front
    gap = _spot((x / 2.0) ** 2 + (y - 0.495) ** 2 * 60, 0.01)
    col = col + (lips * 0.45 - col) * gap * front
    return np.clip(col, 0, 255).astype(np.float32)


def render(person: SynthPerson, art: Articulation, size: int = 128) -> tuple[np.ndarray, Pose, np.ndarray]:
    """Draw `person` in pose `art`: (image uint8 (size, size, 3) RGB, Pose in pixels, mask bool)."""
    lay = layout(person, art, size)
    img, mask = draw(person, lay)
    return img, lay.pose, mask


def draw(person: SynthPerson, lay: Layout, bg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Paint a laid-out person over their scene (or over `bg`, float32 RGB, when given)."""
    cv = _Canvas(background(person.scene, lay.size) if bg is None else bg)
    _contact_shadow(cv, lay)
    skel, b, k = lay.skel, person.body, lay.ppu
    light = person.scene.light
    bw = b.build
    P = lambda name: lay.px(skel.joints[J[name]])  # noqa: E731
    Z = lambda name: float(skel.joints[J[name]][2])  # noqa: E731
    skin = np.asarray(person.skin, np.float32)
    parts: list[tuple[float, int, Callable[[], None]]] = []

    def add(depth: float, fn: Callable[[], None]) -> None:
        parts.append((depth, len(parts), fn))

    def solid(c: np.ndarray | tuple[float, float, float]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        c = np.asarray(c, np.float32)
        return lambda u, v: np.broadcast_to(c, (*np.broadcast_shapes(u.shape, v.shape), 3))

    def cloth(p: Pattern) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        return lambda u, v: fabric(p, u, v, k)

    def capsule(p0, p1, r0, r1, colour, v0=0.0) -> Callable[[], None]:
        return lambda: _capsule(cv, p0, p1, r0 * k, r1 * k, colour, light, k, v0)

    top, bottom = person.top, person.bottom
    skirt = bottom.kind == "skirt"

    # Arms: skin, then the sleeve over the part it covers. Arms sit slightly in front of the
    # torso's centre plane so that arms hanging at the sides overlap its edge.
    sleeve = {"tshirt": top.length, "longsleeve": 1.05, "tank": 0.0}[top.kind]
    for s in ("r", "l"):
        sh, el, wr = P(s + "shoulder"), P(s + "elbow"), P(s + "wrist")
        hand = lay.px(skel.hands[0 if s == "r" else 1])
        zu = (Z(s + "shoulder") + Z(s + "elbow")) / 2 + 0.02
        zf = (Z(s + "elbow") + Z(s + "wrist")) / 2 + 0.02
        ru0, ru1, rf1 = 0.034 * bw, 0.027 * bw, 0.02 * bw
        add(zf + 0.0005, capsule(wr, hand, 0.019 * bw, 0.016 * bw, solid(skin * 0.97)))
        if sleeve < 1.0:
            add(zu, capsule(sh, el, ru0, ru1, solid(skin)))
            add(zf, capsule(el, wr, ru1 * 0.95, rf1, solid(skin)))
        if sleeve > 0:
            f = min(sleeve, 1.0)
            add(
                zu + 0.0002,
                capsule(
                    sh, sh + (el - sh) * f, ru0 * 1.12, (ru0 + (ru1 - ru0) * f) * 1.15, cloth(top.pattern)
                ),
            )
        if sleeve > 1.0:
            add(zf + 0.0002, capsule(el, wr, ru1 * 1.12, rf1 * 1.2, cloth(top.pattern), b.upper_arm))

    # Legs: behind the pelvis unless clearly in front of it (sitting, kicking).
    for s in ("r", "l"):
        hp, kn, an = P(s + "hip"), P(s + "knee"), P(s + "ankle")
        zt = (Z(s + "hip") + Z(s + "knee")) / 2 - 0.04
        zs = (Z(s + "knee") + Z(s + "ankle")) / 2 - 0.04
        rt0, rt1, rs1 = 0.058 * bw, 0.04 * bw, 0.028 * bw
        if skirt:
            zt = min(zt, lay.torso_z - 0.05)
        ii = 0 if s == "r" else 1
        toe, heel = lay.px(skel.toes[ii]), lay.px(skel.heels[ii])
        za = Z(s + "ankle") - 0.04 + 0.0005
        trousers = bottom.kind == "trousers"
        fw = person.footwear
        if fw is None:
            add(za, capsule(heel, toe, 0.03 * bw, 0.026 * bw, solid(person.shoes)))
        else:
            shin_up = kn - an
            n_up = shin_up / max(float(np.linalg.norm(shin_up)), 1e-6)
            shoe = np.asarray(person.shoes, np.float32)
            if fw.kind == "barefoot":
                add(za, capsule(heel, toe, 0.024 * bw, 0.019 * bw, solid(skin * 0.95)))
            else:
                # A sole under a slightly narrower upper: the shoe's most visible structure.
                add(za, capsule(heel, toe, 0.031 * bw, 0.026 * bw, solid(fw.sole)))
                lift = 0.011 * k
                add(
                    za + 0.0001,
                    capsule(heel + n_up * lift, toe + n_up * lift * 0.8, 0.026 * bw, 0.02 * bw, solid(shoe)),
                )
            if fw.kind == "boots":
                top_pt = an + shin_up * fw.height
                zb = zs + 0.0003 if (fw.tucked or not trousers) else zs - 0.0003
                add(
                    zb,
                    capsule(
                        an + n_up * 0.01 * k,
                        top_pt,
                        rs1 * 1.4,
                        rs1 + (rt1 - rs1) * fw.height * 1.3,
                        solid(shoe * 0.95),
                    ),
                )
            elif fw.socks is not None and not trousers and fw.kind != "barefoot":
                add(
                    zs + 0.0002,
                    capsule(
                        an,
                        an + shin_up * fw.sock_height,
                        rs1 * 1.08,
                        (rs1 + (rt1 - rs1) * fw.sock_height) * 1.05,
                        solid(fw.socks),
                    ),
                )
        if not trousers:
            add(zt, capsule(hp, kn, rt0 * 0.95, rt1, solid(skin)))
            add(zs, capsule(kn, an, rt1 * 0.95, rs1, solid(skin)))
        if trousers:
            add(zt, capsule(hp, kn, rt0 * 1.1, rt1 * 1.15, cloth(bottom.pattern)))
            add(zs, capsule(kn, an, rt1 * 1.12, rs1 * 1.3, cloth(bottom.pattern), b.thigh))
        elif bottom.kind == "shorts":
            f = bottom.length
            add(
                zt + 0.0002,
                capsule(
                    hp, hp + (kn - hp) * f, rt0 * 1.12, (rt0 + (rt1 - rt0) * f) * 1.25, cloth(bottom.pattern)
                ),
            )

    # Torso: pelvis (the bottom garment), then the top over it, then the neck.
    cs, _cw, ch = lay.section_c
    hs, hw, hh = lay.section_hw
    up, ac = lay.spine_up, lay.across
    neck_px = P("cneck")

    def garment_uv(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx, ry = (x - float(neck_px[0])) / k, (y - float(neck_px[1])) / k
        return rx * float(ac[0]) + ry * float(ac[1]), -(rx * float(up[0]) + ry * float(up[1]))

    torso_len_px = max(float(np.linalg.norm(cs - ch)) / k, 1e-3)

    def torso_colour(p: Pattern) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        def f(x: np.ndarray, y: np.ndarray) -> np.ndarray:
            u, v = garment_uv(x, y)
            t = np.clip(v / torso_len_px, 0.0, 1.0)
            half = np.where(t < 0.6, hs + (hw - hs) * t / 0.6, hw + (hh - hw) * (t - 0.6) / 0.4)
            a = np.clip(u / np.maximum(half, 1e-3), -1.0, 1.0)
            shade = 1.0 - 0.3 * a * a + 0.1 * light * a
            return fabric(p, u, v, k) * shade[..., None]

        return f

    pelvis = np.array(
        [
            ch + (-hh * ac + 0.06 * up) * k,
            ch + (-hh * ac - 0.05 * up) * k,
            ch - 0.1 * up * k,
            ch + (hh * ac - 0.05 * up) * k,
            ch + (hh * ac + 0.06 * up) * k,
        ],
        np.float32,
    )
    if skirt:
        # The hem follows the thighs: a point along each leg at the skirt's length, flared out.
        hem = []
        for s in ("r", "l"):
            hp, kn, an = P(s + "hip"), P(s + "knee"), P(s + "ankle")
            f = bottom.length
            q = hp + (kn - hp) * f if f <= 1.0 else kn + (an - kn) * min(f - 1.0, 1.0)
            side = -1.0 if s == "r" else 1.0
            flare = (0.045 + 0.05 * f) * bw * k
            hem += [q + side * flare * ac, q - side * 0.3 * flare * ac]
        hull = cv2.convexHull(np.concatenate([pelvis[[0, 4]], np.array(hem, np.float32)]).astype(np.float32))
        skirt_poly = hull.reshape(-1, 2)
        add(lay.torso_z - 0.001, lambda: _polygon(cv, skirt_poly, torso_colour(bottom.pattern)))
    else:
        add(lay.torso_z - 0.001, lambda: _polygon(cv, pelvis, torso_colour(bottom.pattern)))
    torso = lay.torso_poly
    if top.kind == "tank":
        # Bare shoulders: skin under a narrower garment.
        add(
            lay.torso_z,
            lambda: _polygon(
                cv, torso, lambda x, y: torso_colour(Pattern("solid", person.skin, person.skin))(x, y)
            ),
        )
        inner = torso.copy()
        inner[[1, 6]] = inner[[1, 6]] * 0.75 + inner[[2, 5]] * 0.25
        inner[[0, 7]] = inner[[0, 7]] * 0.6 + inner[[1, 6]] * 0.4
        add(lay.torso_z + 0.0001, lambda: _polygon(cv, inner, torso_colour(top.pattern)))
    else:
        add(lay.torso_z, lambda: _polygon(cv, torso, torso_colour(top.pattern)))

    # Neck and head: in front of the torso's centre plane, so they are drawn over the collar.
    hc = lay.px(skel.head_center)
    head_z = max(float(skel.head_center[2]), lay.torso_z + 0.01)
    add(
        lay.torso_z + 0.003,
        capsule(
            neck_px - up * (0.022 if top.kind != "longsleeve" else -0.01) * k,  # the neckline
            lay.px(skel.neck_top) + up * 0.02 * k,
            0.029 * bw,
            0.026 * bw,
            solid(skin * 0.88),
        ),
    )

    hair_c = np.asarray(person.hair.colour, np.float32)
    style = person.hair.style
    face = person.face
    M = skel.head_rot
    R = skel.head_radii * k

    def head_shader(qn: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        lit = (0.72 + 0.28 * np.clip(n[2], 0, 1) + 0.12 * light * n[0])[..., None]
        col = skin * lit
        if style != "bald":
            cover = _hair_cover(style, qn)[..., None]
            col = col + (hair_c * (0.8 + 0.3 * lit) - col) * cover
        if face is not None:
            return _face_detail(face, person, qn, n, col, light), None
        # Eyes and mouth: dark spots that turn away with the face.
        for ex in (-0.36, 0.36):
            d2 = (qn[0] - ex) ** 2 + (qn[1] + 0.1) ** 2 * 1.6 + (qn[2] - 0.92) ** 2
            e = np.clip((0.022 - d2) * 120.0, 0.0, 1.0)[..., None]
            col = col + (np.float32(40.0) - col) * e
        dm = (qn[0] / 2.2) ** 2 + (qn[1] - 0.5) ** 2 * 6 + (qn[2] - 0.86) ** 2
        mth = np.clip((0.012 - dm) * 120.0, 0.0, 1.0)[..., None]
        col = col + (np.asarray(person.lips, np.float32) - col) * mth
        return col.astype(np.float32), None

    def hair_shader(qn: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        lit = (0.72 + 0.28 * np.clip(n[2], 0, 1) + 0.12 * light * n[0])[..., None]
        cover = _hair_cover(style, qn)
        col = hair_c * (0.75 + 0.35 * lit)
        if face is not None:
            col = col * _strands(qn, face.strands)[..., None]
        return col.astype(np.float32), cover

    if style in ("long", "bob", "ponytail"):
        back = skel.head_center + M @ np.array([0.0, -0.1, -0.55]) * skel.head_radii
        if style == "long":
            end = back + skel.upper_rot @ np.array([0.0, 0.2, -0.02])
            rr0, rr1 = skel.head_radii[0] * 1.05, skel.head_radii[0] * 0.95
        elif style == "bob":
            end = back + skel.upper_rot @ np.array([0.0, 0.06, 0.0])
            rr0, rr1 = skel.head_radii[0] * 1.1, skel.head_radii[0] * 1.05
        else:
            back = skel.head_center + M @ np.array([0.0, -0.5, -0.9]) * skel.head_radii
            end = back + skel.upper_rot @ np.array([0.0, 0.13, -0.03])
            rr0, rr1 = 0.02, 0.014
        # Hair hangs down the back: behind the torso when the chest faces the camera, over it
        # when the back does (a leaning body would otherwise put it in front of the chest).
        hair_z = lay.torso_z - 0.01 if skel.upper_rot[2, 2] > 0 else lay.torso_z + 0.002
        add(hair_z, capsule(lay.px(back), lay.px(end), rr0, rr1, solid(hair_c * 0.9)))
    if style not in ("bald", "buzz"):
        vol_c = hc + (M @ np.array([0.0, -0.06, -0.05]) * R)[:2]
        add(head_z - 0.0001, lambda: _ellipsoid(cv, vol_c, M, R * np.array([1.13, 1.08, 1.12]), hair_shader))
    add(head_z, lambda: _ellipsoid(cv, hc, M, R, head_shader))

    for _, _, fn in sorted(parts, key=lambda p: (p[0], p[1])):
        fn()
    img = np.clip(cv.img + 0.5, 0, 255).astype(np.uint8)
    return img, cv.alpha > 0.5
