"""The empty scene on the real photos: the person is gone, the rest of the photo is untouched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from _photo_helpers import photo, pose_of

from vunet_studio.scene import empty_scene
from vunet_studio.segmentation import person_mask, stickman_mask

pytest.importorskip("mediapipe", reason="the bundled segmentation comes with mediapipe (make setup)")


def far_from(mask: np.ndarray, distance: int) -> np.ndarray:
    """Pixels more than `distance` pixels from any pixel of the mask."""
    near = cv2.dilate((mask > 0.01).astype(np.uint8), np.ones((2 * distance + 1, 2 * distance + 1), np.uint8))
    return near == 0


@pytest.mark.parametrize("name", ["astronaut.jpg", "basketball1.png", "grace_hopper.jpg"])
def test_person_is_removed_and_far_pixels_are_the_photos_own(name: str) -> None:
    img = photo(name)
    mask = person_mask(img, pose_of(name))
    scene = empty_scene(img, mask)
    assert scene.image.shape == img.shape
    assert scene.image.dtype == np.uint8
    inside = mask > 0.9
    diff = np.abs(scene.image.astype(int) - img.astype(int)).sum(axis=2)
    assert float((diff[inside] > 30).mean()) > 0.5, "the inside of the mask hardly changed"
    far = far_from(mask, int(0.1 * max(img.shape[:2])))
    assert far.any()
    assert np.array_equal(scene.image[far], img[far])
    assert not diff[scene.hole == 0].any()  # what is not filled in is the photo, bit for bit


def test_the_orange_suit_is_gone() -> None:
    img = photo("astronaut.jpg")
    scene = empty_scene(img, person_mask(img, pose_of("astronaut.jpg"))).image

    def orange(rgb: np.ndarray) -> int:
        r, g, b = (rgb[..., k].astype(int) for k in range(3))
        return int(((r > 170) & (g > 50) & (g < 140) & (b < 90)).sum())

    assert orange(scene) < 0.1 * orange(img)


def test_no_person_leaves_the_photo_as_it_is() -> None:
    wall = np.ascontiguousarray(photo("basketball1.png")[:, 200:360])
    mask = person_mask(wall, None)
    scene = empty_scene(wall, mask)
    assert np.array_equal(scene.image, wall)
    assert not scene.hole.any()


def test_grey_photo_gives_a_grey_scene() -> None:
    img = photo("cameraman.png")  # grey, stored as RGB
    mask = person_mask(img, pose_of("cameraman.png"))
    rgb = empty_scene(img, mask).image
    assert np.array_equal(rgb[..., 0], rgb[..., 1])
    assert np.array_equal(rgb[..., 0], rgb[..., 2])
    assert not np.array_equal(rgb, img)
    grey = empty_scene(img[:, :, 0], mask).image
    assert grey.ndim == 2
    assert np.array_equal(grey, rgb[..., 0])


def test_rgba_and_16_bit_keep_their_format() -> None:
    img, pose = photo("basketball2.png"), pose_of("basketball2.png")
    mask = stickman_mask(pose, img.shape[1], img.shape[0])
    alpha = np.linspace(0, 255, img.shape[1], dtype=np.uint8)[None, :].repeat(img.shape[0], 0)
    rgba = empty_scene(np.dstack([img, alpha]), mask).image
    assert rgba.shape == (*img.shape[:2], 4)
    assert np.array_equal(rgba[..., 3], alpha)
    deep = empty_scene(img.astype(np.uint16) * 257, mask).image
    assert deep.dtype == np.uint16
    eight = empty_scene(img, mask).image
    assert np.abs(deep.astype(int) // 257 - eight.astype(int)).max() <= 1


def test_huge_photo_is_filled_at_a_working_size() -> None:
    img, pose = photo("basketball1.png"), pose_of("basketball1.png")
    huge = cv2.resize(img, None, fx=5, fy=5, interpolation=cv2.INTER_LINEAR)  # 3200 x 2400
    mask = stickman_mask(pose.scaled(5, 5), huge.shape[1], huge.shape[0])
    scene = empty_scene(huge, mask)
    assert scene.image.shape == huge.shape
    assert scene.ms < 3000  # full-resolution inpainting of this photo takes many seconds
    far = far_from(mask, 200)
    assert np.array_equal(scene.image[far], huge[far])


def test_mask_of_the_wrong_size_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="the mask is 10 x 10, the photo 640 x 480"):
        empty_scene(photo("basketball1.png"), np.zeros((10, 10), np.float32))
