"""The 18-joint skeleton of the VUNet data (OpenPose COCO-18): names, order, limbs, flip map,
template, and the body parts built from the joints.

Plain constants, no numpy or torch, so every ring of the project can import them.
"""

from __future__ import annotations

#: Joint names in the order of the DeepFashion/Market `index.p` files (OpenPose COCO-18).
JOINT_NAMES: tuple[str, ...] = (
    "cnose",
    "cneck",
    "rshoulder",
    "relbow",
    "rwrist",
    "lshoulder",
    "lelbow",
    "lwrist",
    "rhip",
    "rknee",
    "rankle",
    "lhip",
    "lknee",
    "lankle",
    "reye",
    "leye",
    "rear",
    "lear",
)
NUM_JOINTS = len(JOINT_NAMES)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

#: Human-readable labels for the GUI and error messages.
JOINT_LABELS: dict[str, str] = {
    "cnose": "nose",
    "cneck": "neck",
    "rshoulder": "right shoulder",
    "relbow": "right elbow",
    "rwrist": "right wrist",
    "lshoulder": "left shoulder",
    "lelbow": "left elbow",
    "lwrist": "left wrist",
    "rhip": "right hip",
    "rknee": "right knee",
    "rankle": "right ankle",
    "lhip": "left hip",
    "lknee": "left knee",
    "lankle": "left ankle",
    "reye": "right eye",
    "leye": "left eye",
    "rear": "right ear",
    "lear": "left ear",
}

#: Bones drawn for the editable stick figure (joint-name pairs).
LIMBS: tuple[tuple[str, str], ...] = (
    ("cneck", "rshoulder"),
    ("rshoulder", "relbow"),
    ("relbow", "rwrist"),
    ("cneck", "lshoulder"),
    ("lshoulder", "lelbow"),
    ("lelbow", "lwrist"),
    ("cneck", "rhip"),
    ("rhip", "rknee"),
    ("rknee", "rankle"),
    ("cneck", "lhip"),
    ("lhip", "lknee"),
    ("lknee", "lankle"),
    ("cneck", "cnose"),
    ("cnose", "reye"),
    ("reye", "rear"),
    ("cnose", "leye"),
    ("leye", "lear"),
)

#: The body parts F_phi sees, in their order on the model's channel axis (the reference's
#: `bparts` order; `vunet_studio.parts` crops them).
PART_NAMES: tuple[str, ...] = tuple(["torso", "head", "lupperarm", "lforearm", "rupperarm", "rforearm", "lthigh", "rthigh"])
NUM_PARTS = len(PART_NAMES)
PART_INDEX: dict[str, int] = {n: i for i, n in enumerate(PART_NAMES)}

#: Joints each part is built from (the reference's `bparts`).
PART_JOINTS: dict[str, tuple[str, ...]] = {
    "torso": ("lshoulder", "lhip", "rhip", "rshoulder"),
    "head": ("lshoulder", "rshoulder", "cnose"),
    "lupperarm": ("lshoulder", "lelbow"),
    "lforearm": ("lelbow", "lwrist"),
    "rupperarm": ("rshoulder", "relbow"),
    "rforearm": ("relbow", "rwrist"),
    "lthigh": ("lhip", "lknee"),
    "rthigh": ("rhip", "rknee"),
}

#: Left/right swap used by mirroring and flip augmentation.
FLIP_MAP: dict[str, str] = {
    "rshoulder": "lshoulder",
    "relbow": "lelbow",
    "rwrist": "lwrist",
    "rhip": "lhip",
    "rknee": "lknee",
    "rankle": "lankle",
    "reye": "leye",
    "rear": "lear",
}
FLIP_MAP.update({v: k for k, v in list(FLIP_MAP.items())})
#: FLIP_INDEX[i] is the index of the joint that joint i becomes under a left/right mirror.
FLIP_INDEX: tuple[int, ...] = tuple(JOINT_INDEX[FLIP_MAP.get(n, n)] for n in JOINT_NAMES)

#: An upright, front-facing person in a unit box (x right, y down, [0, 1]). The person's
#: right side is on the image's left, as in a photo of someone facing the camera.
TEMPLATE_POSE: dict[str, tuple[float, float]] = {
    "cnose": (0.50, 0.12),
    "cneck": (0.50, 0.22),
    "rshoulder": (0.38, 0.23),
    "relbow": (0.33, 0.38),
    "rwrist": (0.30, 0.52),
    "lshoulder": (0.62, 0.23),
    "lelbow": (0.67, 0.38),
    "lwrist": (0.70, 0.52),
    "rhip": (0.43, 0.52),
    "rknee": (0.42, 0.71),
    "rankle": (0.42, 0.90),
    "lhip": (0.57, 0.52),
    "lknee": (0.58, 0.71),
    "lankle": (0.58, 0.90),
    "reye": (0.47, 0.10),
    "leye": (0.53, 0.10),
    "rear": (0.44, 0.11),
    "lear": (0.56, 0.11),
}

#: COCO-17 keypoint names in COCO/openpifpaf order.
COCO17_NAMES: tuple[str, ...] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
#: COCO-17 name -> our joint name (the neck has no COCO counterpart).
COCO17_TO_JOINT: dict[str, str] = {
    "nose": "cnose",
    "left_eye": "leye",
    "right_eye": "reye",
    "left_ear": "lear",
    "right_ear": "rear",
    "left_shoulder": "lshoulder",
    "right_shoulder": "rshoulder",
    "left_elbow": "lelbow",
    "right_elbow": "relbow",
    "left_wrist": "lwrist",
    "right_wrist": "rwrist",
    "left_hip": "lhip",
    "right_hip": "rhip",
    "left_knee": "lknee",
    "right_knee": "rknee",
    "left_ankle": "lankle",
    "right_ankle": "rankle",
}
