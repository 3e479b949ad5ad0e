"""The person mask on the real photos: on the person, off the rest, whatever the photo's format."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _photo_helpers import PEOPLE, photo, pose_of, torso_points

from vunet_studio import segmentation
from vunet_studio.segmentation import Segmenter, person_mask, segment_person

pytest.importorskip("mediapipe", reason="the bundled segmentation comes with mediapipe (make setup)")


def corners(mask: np.ndarray) -> list[float]:
    h, w = mask.shape
    m = max(2, int(0.02 * min(h, w)))
    return [float(mask[y, x]) for y in (m, h - 1 - m) for x in (m, w - 1 - m)]


@pytest.mark.parametrize("name", PEOPLE)
def test_mask_covers_the_torso_and_not_the_top_corners(name: str) -> None:
    img, pose = photo(name), pose_of(name)
    result = segment_person(img, pose)
    assert result.method == "blazepose", result.note
    assert result.mask.shape == img.shape[:2]
    assert result.mask.dtype == np.float32
    assert result.mask.min() >= 0.0
    assert result.mask.max() <= 1.0
    for x, y in torso_points(pose):
        assert result.mask[y, x] > 0.5, f"{name}: torso point {(x, y)} outside the mask"
    assert max(corners(result.mask)[:2]) < 0.5  # the top corners are background in every photo
    # A person, not the whole photo, and not a sliver.
    assert 0.05 < float((result.mask > 0.5).mean()) < 0.75


def test_full_body_mask_leaves_every_corner_and_the_other_person_out() -> None:
    mask = person_mask(photo("basketball1.png"), pose_of("basketball1.png"))
    assert max(corners(mask)) < 0.5
    for x, y in torso_points(pose_of("basketball1.png#right")):
        assert mask[y, x] < 0.5, f"the other man's torso {(x, y)} is in the mask"


def test_the_man_at_the_edge_gets_his_own_mask() -> None:
    # BlazePose finds the man holding the ball; given the other man's pose, the mask is his.
    img, other = photo("basketball1.png"), pose_of("basketball1.png#right")
    result = segment_person(img, other)
    for x, y in torso_points(other):
        assert result.mask[y, x] > 0.5
    for x, y in torso_points(pose_of("basketball1.png")):
        assert result.mask[y, x] < 0.5, "the mask of the man at the edge took the man with the ball"
    assert result.note  # the status bar says a fallback made it


def test_photo_without_a_person_gets_an_empty_mask() -> None:
    wall = np.ascontiguousarray(photo("basketball1.png")[:, 200:360])  # wall and door between the two men
    result = segment_person(wall, None)
    assert result.method == "none"
    assert not result.mask.any()
    assert result.note


def test_no_pose_takes_the_most_prominent_person() -> None:
    img = photo("grace_hopper.jpg")
    mask = person_mask(img, None)
    for x, y in torso_points(pose_of("grace_hopper.jpg")):
        assert mask[y, x] > 0.5


def test_grey_rgba_and_16_bit_photos_get_the_same_mask() -> None:
    img, pose = photo("cameraman.png"), pose_of("cameraman.png")
    reference = person_mask(img, pose) > 0.5
    grey = img[:, :, 0]
    rgba = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    deep = img.astype(np.uint16) * 257
    for variant in (grey, rgba, deep):
        mask = person_mask(variant, pose)
        assert mask.shape == img.shape[:2]
        agree = float(((mask > 0.5) == reference).mean())
        assert agree > 0.99, f"{variant.shape} {variant.dtype}: only {agree:.3f} agrees"


def test_huge_photo_is_segmented_downscaled_and_the_mask_upsampled() -> None:
    img, pose = photo("basketball1.png"), pose_of("basketball1.png")
    huge = cv2.resize(img, None, fx=5, fy=5, interpolation=cv2.INTER_LINEAR)  # 3200 x 2400
    result = segment_person(huge, pose.scaled(5, 5))
    assert result.mask.shape == huge.shape[:2]
    for x, y in torso_points(pose.scaled(5, 5)):
        assert result.mask[y, x] > 0.5
    assert max(corners(result.mask)) < 0.5


class _NoMediapipe(Segmenter):
    def _load(self) -> bool:
        self.unavailable = "person segmentation unavailable (mediapipe: not installed)"
        return False


def test_without_mediapipe_the_mask_is_drawn_from_the_skeleton() -> None:
    img, pose = photo("basketball2.png"), pose_of("basketball2.png")
    result = segment_person(img, pose, segmenter=_NoMediapipe())
    assert result.method == "stickman"
    assert "mediapipe" in result.note
    assert "skeleton" in result.note
    for x, y in torso_points(pose):
        assert result.mask[y, x] > 0.5
    assert max(corners(result.mask)) < 0.05
    # Soft edges: a fallback must not pretend to be an exact outline.
    assert ((result.mask > 0.05) & (result.mask < 0.95)).any()
    assert segmentation.stickman_mask(pose, 640, 480).shape == (480, 640)


def test_a_wrong_pose_is_not_covered_by_the_mask_without_its_bones() -> None:
    # What the estimator's test relies on: with fill_bones=False a skeleton placed off the
    # person does not make its own mask.
    img, pose = photo("basketball1.png"), pose_of("basketball1.png")
    wrong = pose.translated(260, 0)  # onto the empty wall between the two men
    mask = person_mask(img, wrong, fill_bones=False)
    inside = [mask[y, x] > 0.5 for x, y in torso_points(wrong)]
    assert sum(inside) <= 1
    right = person_mask(img, pose, fill_bones=False)
    assert all(right[y, x] > 0.5 for x, y in torso_points(pose))
