"""The bundled pose estimator (BlazePose) on real photos, the estimation chain's fallbacks,
and bad photos: the user gets the person's joints, or the template and one clear reason."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vunet_studio import estimation
from vunet_studio.estimation import EstimatorChain, EstimatorUnavailable, find_people
from vunet_studio.estimation import blazepose_backend as bp
from vunet_studio.imageio import load_image
from vunet_studio.pose import Pose
from vunet_studio.pose_io import write_openpose
from vunet_studio.skeleton import JOINT_INDEX, JOINT_NAMES

PHOTOS = Path(__file__).parent / "data" / "photos"
needs_mediapipe = pytest.mark.skipif(not bp.is_installed(), reason="mediapipe is not installed")

#: Hand-made boxes (x0, y0, x1, y1) in photo pixels: the person's whole body as seen, and the
#: head; whether the person faces the camera (then their left side is on the image's right).
#: The second basketball person (cut by the right edge, seen from behind) is checked apart.
PEOPLE = {
    "astronaut.jpg": {"body": (0, 0, 380, 512), "head": (150, 20, 310, 170), "frontal": True},
    "basketball1.png": {"body": (25, 80, 185, 470), "head": (60, 85, 130, 150), "frontal": True},
    "basketball2.png": {"body": (25, 80, 185, 470), "head": (60, 85, 130, 150), "frontal": True},
    "cameraman.png": {"body": (0, 60, 430, 512), "head": (180, 100, 290, 210), "frontal": False},
    "grace_hopper.jpg": {"body": (0, 0, 512, 600), "head": (140, 60, 400, 340), "frontal": True},
}
RIGHT_EDGE_PERSON = (450, 20, 640, 480)
HEAD = ("cnose", "reye", "leye", "rear", "lear")


@pytest.fixture(scope="module")
def blazepose() -> bp.BlazePoseEstimator:
    if not bp.is_installed():
        pytest.skip("mediapipe is not installed")
    est = bp.create()
    yield est
    est.close()


def _inside(pose: Pose, box: tuple[int, int, int, int], names: tuple[str, ...] = JOINT_NAMES) -> list[str]:
    """The visible joints among `names` that fall outside `box`."""
    x0, y0, x1, y1 = box
    out = []
    for n in names:
        j = JOINT_INDEX[n]
        x, y = pose.xy[j]
        if pose.visible[j] and not (x0 <= x <= x1 and y0 <= y <= y1):
            out.append(n)
    return out


def _x(pose: Pose, name: str) -> float:
    assert pose.visible[JOINT_INDEX[name]], f"{name} not found"
    return float(pose.xy[JOINT_INDEX[name], 0])


# --- real photos ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_skeleton_lands_on_the_person_with_left_and_right_right(blazepose, name: str) -> None:
    image = load_image(PHOTOS / name)
    poses = blazepose.estimate(image)
    assert poses, f"nobody found in {name}"
    pose, truth = poses[0], PEOPLE[name]
    assert pose.image_size == (image.shape[1], image.shape[0])
    assert pose.visible.sum() >= 8, f"only {pose.visible.sum()} joints in {name}"
    assert not _inside(pose, truth["body"]), f"joints off the person in {name}"
    assert not _inside(pose, truth["head"], HEAD), f"head joints off the head in {name}"
    assert pose.visible[JOINT_INDEX["cneck"]]
    assert pose.visible[JOINT_INDEX["cnose"]]
    if truth["frontal"]:  # facing the camera: the person's left is on the image's right
        assert _x(pose, "lshoulder") > _x(pose, "rshoulder"), f"left/right swapped in {name}"
        assert _x(pose, "leye") > _x(pose, "reye"), f"left/right eyes swapped in {name}"


@pytest.mark.parametrize("name", sorted(PEOPLE))
def test_the_estimated_joints_fall_inside_the_persons_mask(blazepose, name: str) -> None:
    from vunet_studio.segmentation import person_height, person_mask

    image = load_image(PHOTOS / name)
    pose = blazepose.estimate(image)[0]
    # What the segmentation models see of the person (not the pose's own bones), a few pixels
    # wider: a joint on the outline (a shoulder, an ankle) counts.
    mask = person_mask(image, pose, fill_bones=False) > 0.5
    grow = max(3, round(0.03 * person_height(pose)))
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0
    h, w = mask.shape
    inside, outside = [], []
    for n in JOINT_NAMES:
        j = JOINT_INDEX[n]
        x, y = (round(float(v)) for v in pose.xy[j])
        if not pose.visible[j] or not (0 <= x < w and 0 <= y < h):
            continue  # a joint beyond the frame's edge (a portrait's hips) is no pixel of it
        (inside if mask[y, x] else outside).append(n)
    assert len(inside) >= 8, f"only {inside} on the person in {name}"
    assert len(outside) <= 0.15 * (len(inside) + len(outside)), f"{outside} off the person's mask in {name}"
    torso = {"cneck", "rshoulder", "lshoulder", "cnose"}
    assert not torso & set(outside), f"torso joints {torso & set(outside)} off the person in {name}"


@pytest.mark.parametrize("name", ["basketball1.png", "basketball2.png"])
def test_both_people_are_found_whole_one_first(blazepose, name: str) -> None:
    poses = blazepose.estimate(load_image(PHOTOS / name))
    assert len(poses) == 2
    assert not _inside(poses[0], PEOPLE[name]["body"]), "the man with the ball comes first"
    assert not _inside(poses[1], RIGHT_EDGE_PERSON), "the second is the person at the right edge"


def test_landmark_mapping_sides_visibility_and_neck() -> None:
    lm = np.zeros((33, 3))
    lm[:, 2] = 0.9
    lm[11] = (0.7, 0.3, 0.9)  # mediapipe LEFT_SHOULDER: the person's left
    lm[12] = (0.3, 0.3, 0.9)  # RIGHT_SHOULDER
    lm[15] = (0.8, 0.6, 0.1)  # LEFT_WRIST, barely visible
    lm[27] = (0.5, 1.2, 0.99)  # LEFT_ANKLE below the photo
    pose = bp.landmarks_to_pose(lm, (200, 100))
    ls, rs, neck = (pose.xy[JOINT_INDEX[n]] for n in ("lshoulder", "rshoulder", "cneck"))
    assert tuple(ls) == (140, 30)
    assert tuple(rs) == (60, 30)
    assert tuple(neck) == (100, 30)
    assert not pose.visible[JOINT_INDEX["lwrist"]]
    assert not pose.visible[JOINT_INDEX["lankle"]]
    assert pose.visible.sum() == 16


# --- bad photos -------------------------------------------------------------------------------
def test_photo_variants_find_the_same_person(blazepose) -> None:
    rgb = load_image(PHOTOS / "grace_hopper.jpg")
    ref = blazepose.estimate(rgb)[0]
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    variants = {
        "grey": grey,
        "grey (H, W, 1)": grey[:, :, None],
        "RGBA": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "16-bit": rgb.astype(np.uint16) * 257,
        "16-bit grey": grey.astype(np.uint16) * 257,
        "float": rgb.astype(np.float32) / 255.0,
    }
    for what, img in variants.items():
        poses = blazepose.estimate(img)
        assert poses, f"nobody found in the {what} photo"
        both = ref.visible & poses[0].visible
        assert both[JOINT_INDEX["cnose"]], what
        err = np.abs(poses[0].xy[both] - ref.xy[both]).max()
        assert err < 25, f"{what}: joints {err:.0f} px away from the RGB photo's"


def test_a_16_bit_grey_photo_file_loads_as_the_photo_and_its_person_is_found(
    blazepose, tmp_path: Path
) -> None:
    grey = cv2.cvtColor(load_image(PHOTOS / "basketball1.png"), cv2.COLOR_RGB2GRAY)
    cv2.imwrite(str(tmp_path / "deep.png"), grey.astype(np.uint16) * 257)
    loaded = load_image(tmp_path / "deep.png")
    assert np.abs(loaded[:, :, 0].astype(int) - grey).max() <= 1, "not clipped to white"
    assert not _inside(blazepose.estimate(loaded)[0], PEOPLE["basketball1.png"]["body"])


def test_huge_photo_is_searched_scaled_down_and_joints_come_back_in_its_pixels(blazepose) -> None:
    rgb = load_image(PHOTOS / "basketball1.png")
    ref = blazepose.estimate(rgb)[0]
    huge = cv2.resize(rgb, (6000, 4000), interpolation=cv2.INTER_LINEAR)  # 24 megapixels, 3:2
    poses = blazepose.estimate(huge)
    assert poses
    assert poses[0].image_size == (6000, 4000)
    sx, sy = 6000 / 640, 4000 / 480
    box = tuple(int(v * s) for v, s in zip(PEOPLE["basketball1.png"]["body"], (sx, sy, sx, sy), strict=True))
    assert not _inside(poses[0], box)
    assert abs(poses[0].xy[JOINT_INDEX["cneck"], 1] / sy - ref.xy[JOINT_INDEX["cneck"], 1]) < 15


@needs_mediapipe
@pytest.mark.parametrize(
    ("what", "image", "says"),
    [
        ("gradient", np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1)), "no person found"),
        ("tiny", np.full((8, 8, 3), 128, np.uint8), "only 8 x 8 pixels"),
        ("black", np.zeros((300, 200, 3), np.uint8), "no person found"),
    ],
)
def test_no_person_gives_the_template_and_the_reason(what: str, image: np.ndarray, says: str) -> None:
    result = find_people(image, None, EstimatorChain(estimation.BUNDLED))
    assert result.origin == "template", what
    assert len(result.poses) == 1
    assert result.poses[0].visible.all()
    assert result.poses[0].image_size == (image.shape[1], image.shape[0])
    assert says in result.message
    assert "BlazePose" in result.message


def test_a_photo_the_backend_chokes_on_gets_the_template() -> None:
    class Broken:
        def estimate(self, image: np.ndarray) -> list[Pose]:
            raise RuntimeError("graph failed")

    chain = EstimatorChain(estimation.BUNDLED, bundled_factory=Broken, fallback=False)
    result = chain.run(np.zeros((50, 40, 3), np.uint8))
    assert result.origin == "template"
    assert "failed on this photo" in result.message


# --- the chain's order and fallbacks ----------------------------------------------------------
class Fake:
    def __init__(self, label: str, people: int = 1) -> None:
        self.label, self.people = label, people

    def estimate(self, image: np.ndarray) -> list[Pose]:
        h, w = image.shape[:2]
        return [Pose.template(w, h, (10 * k, 0, w / 2, h)) for k in range(self.people)]


def _unavailable(message: str):
    def make() -> object:
        raise EstimatorUnavailable(message)

    return make


IMAGE = np.zeros((120, 100, 3), np.uint8)


def test_a_pose_file_beside_the_photo_comes_first(tmp_path: Path) -> None:
    photo = tmp_path / "me.jpg"
    write_openpose(tmp_path / "me.json", [Pose.template(100, 120)], (100, 120))
    called = []
    chain = EstimatorChain(
        openpifpaf_factory=lambda: called.append(1), bundled_factory=lambda: called.append(2)
    )
    result = find_people(IMAGE, photo, chain)
    assert result.origin == "file"
    assert result.message == "Pose read from me.json"
    assert not called


def test_openpifpaf_first_when_available_else_bundled_with_the_reason(tmp_path: Path) -> None:
    chain = EstimatorChain(openpifpaf_factory=lambda: Fake("pp", 2), bundled_factory=lambda: Fake("bp"))
    result = find_people(IMAGE, tmp_path / "none.jpg", chain)
    assert result.origin == "estimated"
    assert result.source.startswith("openpifpaf")
    assert len(result.poses) == 2
    assert "2 people found" in result.message

    chain = EstimatorChain(
        openpifpaf_factory=_unavailable("openpifpaf skipped: its checkpoint is not downloaded."),
        bundled_factory=lambda: Fake("bp"),
    )
    result = find_people(IMAGE, tmp_path / "none.jpg", chain)
    assert result.origin == "estimated"
    assert result.source == "BlazePose (bundled)"
    assert result.message.startswith("Pose found by BlazePose (bundled) in ")
    assert result.message.endswith(
        " ms"
    )
    assert result.skipped == ["openpifpaf skipped: its checkpoint is not downloaded."]
    assert "not downloaded" in result.details


def test_nothing_available_gives_the_template_and_every_reason() -> None:
    made = []

    def bundled() -> object:
        made.append(1)
        raise EstimatorUnavailable("The bundled pose estimator needs the mediapipe package.")

    chain = EstimatorChain(
        openpifpaf_factory=_unavailable("openpifpaf is not installed."), bundled_factory=bundled
    )
    for _ in range(2):
        result = find_people(IMAGE, None, chain)
        assert result.origin == "template"
        assert result.poses[0].visible.all()
        assert result.message == "Template pose used: no pose estimator could start."
        assert any("mediapipe" in s for s in result.skipped)
        assert any(
            "openpifpaf" in s for s in result.skipped
        )
    assert made == [1], "a missing estimator is not looked for again on every photo"
    with pytest.raises(EstimatorUnavailable, match="mediapipe"):
        chain.estimate(IMAGE)


def test_a_one_person_estimator_says_so() -> None:
    class One(Fake):
        single_person = True

    result = EstimatorChain(estimation.BUNDLED, bundled_factory=lambda: One("bp")).run(IMAGE)
    assert result.message.endswith("ms (it looks for one person only)")


def test_choice_and_strict_mode() -> None:
    chain = EstimatorChain(
        estimation.BUNDLED, openpifpaf_factory=lambda: Fake("pp"), bundled_factory=lambda: Fake("bp")
    )
    assert chain.run(IMAGE).source == "BlazePose (bundled)"
    strict = EstimatorChain(
        estimation.OPENPIFPAF,
        "/nowhere/model.pkl",
        openpifpaf_factory=_unavailable("The pose checkpoint file model.pkl does not exist."),
        bundled_factory=lambda: Fake("bp"),
        fallback=False,
    )
    with pytest.raises(EstimatorUnavailable, match=r"model.pkl"):
        strict.build()
    with pytest.raises(EstimatorUnavailable, match="not a pose estimator"):
        EstimatorChain("magic")


def test_auto_never_downloads_and_skips_what_is_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("openpifpaf")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # torch.hub keeps its downloads in TORCH_HOME/hub
    assert torch.hub.get_dir() == str(tmp_path / "hub")
    calls: list[bool] = []

    def create_estimator(checkpoint, device, *, threshold, allow_download):
        calls.append(allow_download)
        return Fake("pp")

    monkeypatch.setattr(estimation, "create_estimator", create_estimator)
    chain = EstimatorChain(bundled_factory=lambda: Fake("bp"))
    result = chain.run(IMAGE)
    assert result.source == "BlazePose (bundled)"
    assert calls == []
    assert "not downloaded" in result.skipped[0]

    cached = tmp_path / "hub" / "checkpoints" / "shufflenetv2k16-210820-232500-cocokp-o10s-7189450a.pkl"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"x")
    assert EstimatorChain(bundled_factory=lambda: Fake("bp")).run(IMAGE).source.startswith("openpifpaf")
    assert calls == [False], "auto uses a cached checkpoint and never downloads"

    missing = EstimatorChain(checkpoint=str(tmp_path / "mine.pkl"), bundled_factory=lambda: Fake("bp")).run(
        IMAGE
    )
    assert missing.source == "BlazePose (bundled)"
    assert "mine.pkl does not exist" in missing.skipped[0]
    assert EstimatorChain(estimation.OPENPIFPAF, bundled_factory=lambda: Fake("bp")).run(IMAGE)
    assert calls[-1] is True, "choosing openpifpaf allows its one download"


# --- the tools --------------------------------------------------------------------------------
@needs_mediapipe
def test_render_uses_the_bundled_estimator_and_person_n(monkeypatch: pytest.MonkeyPatch) -> None:
    from vunet_studio import render_cli

    monkeypatch.setattr(
        estimation.chain, "openpifpaf_offline_problem", lambda c: "openpifpaf skipped: offline."
    )
    image = load_image(PHOTOS / "basketball1.png")
    first = render_cli._estimate_pose(image, str(PHOTOS / "basketball1.png"))
    assert not _inside(first, PEOPLE["basketball1.png"]["body"])
    second = render_cli._estimate_pose(image, str(PHOTOS / "basketball1.png"), 2)
    assert not _inside(second, RIGHT_EDGE_PERSON)
    with pytest.raises(render_cli.CliError, match="2 person"):
        render_cli._estimate_pose(image, str(PHOTOS / "basketball1.png"), 3)
    # An upper-body portrait: its hips are below the frame, and the model gets them inferred.
    portrait = render_cli._estimate_pose(load_image(PHOTOS / "grace_hopper.jpg"), "grace_hopper.jpg")
    assert not portrait.has_torso()
    assert portrait.renderable()


@needs_mediapipe
def test_prepare_builds_an_index_from_real_photos_with_the_bundled_estimator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from training import prepare

    monkeypatch.setattr(
        estimation.chain, "openpifpaf_offline_problem", lambda c: "openpifpaf skipped: offline."
    )
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("basketball1.png", "cameraman.png", "grace_hopper.jpg"):
        shutil.copy(PHOTOS / name, photos / name)
    out = tmp_path / "dataset"
    assert prepare.main([str(photos), str(out), "--size", "128", "--quiet"]) == 0, capsys.readouterr().err
    index = pickle.loads((out / "index.p").read_bytes())
    joints = index["joints"]
    assert joints.shape[1:] == (18, 2)
    assert len(index["imgs"]) == joints.shape[0] >= 2
    assert any("basketball1" in p for p in index["imgs"])
    assert any("cameraman" in p for p in index["imgs"])
    visible = joints[joints[..., 0] >= 0]
    assert ((visible >= 0) & (visible <= 1)).all()
    assert "1 with no usable person" in capsys.readouterr().out  # the portrait shows no hips
