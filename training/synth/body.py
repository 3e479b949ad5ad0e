"""Joint-angle body model of the synthetic people: proportions, articulation, 3D joints.

Owns the geometry only (no drawing, no randomness): `BodyShape` says how a person is built,
`Articulation` how they stand, and `skeleton_3d` turns the two into camera-frame 3D points.
Units are "body units": a standing person is 1.0 tall. The camera is orthographic, looking
along -z: x right, y down, z toward the camera. In the body frame x points to the person's
LEFT and z forward, so a person facing the camera (yaw 0) has their right side on the
image's left, as the skeleton's r*/l* names require.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vunet_studio.skeleton import JOINT_INDEX, NUM_JOINTS

#: Face points on the unit head ellipsoid, head frame (x = person's left, y down, z forward).
FACE_POINTS: dict[str, tuple[float, float, float]] = {
    "cnose": (0.0, 0.18, 1.02),
    "reye": (-0.36, -0.10, 0.90),
    "leye": (0.36, -0.10, 0.90),
    "rear": (-0.98, 0.02, -0.12),
    "lear": (0.98, 0.02, -0.12),
}

#: Head ellipsoid semi-axes (x, y, z) in body units at head_scale 1.
HEAD_RADII = np.array([0.050, 0.064, 0.056], np.float64)


@dataclass(frozen=True)
class BodyShape:
    """Proportions of one person in body units (standing height about 1)."""

    shoulder_width: float = 0.20  # joint to joint
    hip_width: float = 0.12  # joint to joint
    torso_length: float = 0.29  # hip line to shoulder line
    neck_length: float = 0.05
    head_scale: float = 1.0
    upper_arm: float = 0.18
    forearm: float = 0.15
    thigh: float = 0.245
    shin: float = 0.245
    build: float = 1.0  # thickness of limbs and torso (0.8 slim .. 1.35 heavy)
    chest: float = 1.0  # extra torso depth/width at the chest


@dataclass(frozen=True)
class Articulation:
    """The pose parameters (radians; fractions of the frame for framing).

    Arms: (abduction sideways, flexion forward, elbow flexion, elbow-bend twist).
    Legs: (abduction sideways, flexion forward, knee flexion).
    """

    yaw: float = 0.0  # whole body about the vertical; 0 faces the camera, pi shows the back
    pitch: float = 0.0  # forward bend of the upper body at the hips
    lean: float = 0.0  # sideways bend of the upper body
    head_yaw: float = 0.0
    head_pitch: float = 0.0  # positive looks down
    head_roll: float = 0.0
    r_arm: tuple[float, float, float, float] = (0.15, 0.0, 0.1, 0.0)
    l_arm: tuple[float, float, float, float] = (0.15, 0.0, 0.1, 0.0)
    r_leg: tuple[float, float, float] = (0.03, 0.0, 0.0)
    l_leg: tuple[float, float, float] = (0.03, 0.0, 0.0)
    scale: float = 0.85  # standing height as a fraction of the frame height
    dx: float = 0.0  # figure centre offset, fraction of the frame width
    dy: float = 0.0  # figure centre offset, fraction of the frame height
    roll: float = 0.0  # camera roll in the image plane


@dataclass
class Skeleton3D:
    """Camera-frame geometry of one posed body (body units, origin at the hip midpoint)."""

    joints: np.ndarray  # (18, 3)
    head_center: np.ndarray  # (3,)
    head_rot: np.ndarray  # (3, 3) head frame -> camera
    head_radii: np.ndarray  # (3,)
    upper_rot: np.ndarray  # (3, 3) upper-body frame -> camera
    lower_rot: np.ndarray  # (3, 3) pelvis frame -> camera
    neck_top: np.ndarray  # (3,)
    hands: np.ndarray  # (2, 3) fingertip ends, [right, left]
    toes: np.ndarray  # (2, 3) [right, left]
    heels: np.ndarray  # (2, 3) [right, left]
    face_normal_z: dict[str, float]  # camera-z of the head surface normal at each face joint


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float64)


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float64)


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float64)


def _unit(v: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-6 else fallback


def limb_direction(abd: float, flex: float, side: float) -> np.ndarray:
    """Direction of a limb hanging from its root: down, swung forward by `flex`, out by `abd`.

    `side` is +1 for the person's left (body +x), -1 for the right, so positive abduction
    always moves the limb away from the body's midline.
    """
    return np.array(
        [side * math.sin(abd) * math.cos(flex), math.cos(abd) * math.cos(flex), math.sin(flex)], np.float64
    )


def _bend(d: np.ndarray, angle: float, toward: np.ndarray, twist: float = 0.0) -> np.ndarray:
    """Rotate unit vector d by `angle` toward the part of `toward` orthogonal to d, twisted about d."""
    fallback = _unit(np.cross(d, np.array([1.0, 0.0, 0.0])), np.array([0.0, 0.0, 1.0]))
    b = _unit(toward - float(toward @ d) * d, fallback)
    if twist:
        b = math.cos(twist) * b + math.sin(twist) * np.cross(d, b)
    return math.cos(angle) * d + math.sin(angle) * b


def skeleton_3d(shape: BodyShape, art: Articulation) -> Skeleton3D:
    """Forward kinematics: the 18 joints and the drawing anchors in the camera frame."""
    glob = rot_z(art.roll) @ rot_y(art.yaw)
    upper = rot_z(art.lean) @ rot_x(-art.pitch)  # pitch > 0 bends the chest toward +z (forward)
    joints = np.zeros((NUM_JOINTS, 3), np.float64)
    j = JOINT_INDEX
    fwd = np.array([0.0, 0.0, 1.0])
    hands = np.zeros((2, 3))
    toes = np.zeros((2, 3))
    heels = np.zeros((2, 3))

    neck = upper @ np.array([0.0, -shape.torso_length, 0.0])
    joints[j["cneck"]] = neck
    for k, (side, prefix, arm, leg) in enumerate(
        ((-1.0, "r", art.r_arm, art.r_leg), (1.0, "l", art.l_arm, art.l_leg))
    ):
        abd, flex, elbow, twist = arm
        shoulder = upper @ np.array([side * shape.shoulder_width / 2, -shape.torso_length, 0.0])
        d = limb_direction(abd, flex, side)
        # The forearm folds forward (toward the chest when twisted inward), never backward.
        f = _bend(d, elbow, fwd, side * twist)
        elb = shoulder + upper @ d * shape.upper_arm
        wri = elb + upper @ f * shape.forearm
        joints[j[prefix + "shoulder"]] = shoulder
        joints[j[prefix + "elbow"]] = elb
        joints[j[prefix + "wrist"]] = wri
        hands[k] = wri + upper @ f * 0.07

        habd, hflex, knee = leg
        hip = np.array([side * shape.hip_width / 2, 0.0, 0.0])
        d = limb_direction(habd, hflex, side)
        s = _bend(d, knee, -fwd)  # knees fold backward
        kn = hip + d * shape.thigh
        an = kn + s * shape.shin
        joints[j[prefix + "hip"]] = hip
        joints[j[prefix + "knee"]] = kn
        joints[j[prefix + "ankle"]] = an
        foot = _unit(np.array([side * 0.3, 0.0, 1.0]), fwd)
        sole = an + s * 0.03  # the ankle joint sits a little above the sole
        toes[k] = sole + foot * 0.085
        heels[k] = sole - foot * 0.025

    radii = HEAD_RADII * shape.head_scale
    head_rot = upper @ rot_y(art.head_yaw) @ rot_x(-art.head_pitch) @ rot_z(art.head_roll)
    neck_top = neck + upper @ np.array([0.0, -shape.neck_length, 0.0])
    head_center = neck_top + head_rot @ np.array([0.0, -0.75 * radii[1], 0.15 * radii[2]])
    face_nz: dict[str, float] = {}
    g_head = glob @ head_rot
    for name, p in FACE_POINTS.items():
        q = np.asarray(p) * radii
        joints[j[name]] = head_center + head_rot @ q
        n = g_head @ (q / radii**2)
        face_nz[name] = float(n[2] / np.linalg.norm(n))

    return Skeleton3D(
        joints=joints @ glob.T,
        head_center=glob @ head_center,
        head_rot=g_head,
        head_radii=radii,
        upper_rot=glob @ upper,
        lower_rot=glob,
        neck_top=glob @ neck_top,
        hands=hands @ glob.T,
        toes=toes @ glob.T,
        heels=heels @ glob.T,
        face_normal_z=face_nz,
    )
