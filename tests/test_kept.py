"""Re-posing a person in their own photo keeps what the edit did not move (`vunet_studio.kept`):
a raised arm re-renders the arm, and the face, chest and legs stay the photo's own pixels."""

from __future__ import annotations

import numpy as np

from vunet_studio.composite import with_kept
from vunet_studio.framing import pose_box
from vunet_studio.kept import KeptSource, carried_limbs, following, kept_region
from vunet_studio.pose import Pose
from vunet_studio.segmentation import person_height, stickman_mask
from vunet_studio.skeleton import FLIP_INDEX, JOINT_INDEX

W, H = 320, 400


def _person(box: tuple[float, float, float, float] = (60.0, 40.0, 200.0, 340.0)) -> tuple[KeptSource, Pose]:
    pose = Pose.template(W, H, box)
    yy, xx = np.mgrid[0:H, 0:W]
    photo = np.stack([xx % 256, yy % 256, (3 * xx + yy) % 256], -1).astype(np.uint8)  # every pixel its own
    return KeptSource(photo, stickman_mask(pose, W, H), pose), pose


def _at(weight: np.ndarray, xy: np.ndarray) -> float:
    return float(weight[round(float(xy[1])), round(float(xy[0]))])


def _raised_wrist(pose: Pose) -> Pose:
    j = JOINT_INDEX["rwrist"]
    x, y = pose.xy[JOINT_INDEX["relbow"]]
    return pose.with_joint(j, float(x) - 10.0, float(y) - 80.0)


def _carried(out: np.ndarray, photo: np.ndarray, found: Pose, pose: Pose, a: str, b: str) -> bool:
    """The middle of bone a-b in `pose` shows the photo's pixel from that bone's middle in `found`."""
    new = 0.5 * (pose.xy[JOINT_INDEX[a]] + pose.xy[JOINT_INDEX[b]])
    old = 0.5 * (found.xy[JOINT_INDEX[a]] + found.xy[JOINT_INDEX[b]])
    nx, ny = (round(float(v)) for v in new)
    ox, oy = (round(float(v)) for v in old)
    return int(np.abs(out[ny, nx].astype(int) - photo[oy, ox]).max()) <= 12


def test_an_unchanged_pose_gives_back_the_photo() -> None:
    source, pose = _person()
    weight = kept_region(source, pose, (0, 0, W, H), scale=1.0, box_side=pose_box(pose).side)
    assert weight is not None
    assert (weight == 1.0).all()


def test_a_raised_wrist_re_renders_the_forearm_and_keeps_the_rest() -> None:
    source, pose = _person()
    raised = _raised_wrist(pose)
    weight = kept_region(source, raised, (0, 0, W, H), scale=1.0, box_side=pose_box(pose).side)
    assert weight is not None
    xy = pose.xy
    # Chest, face, the other arm and both legs: the photo's own.
    chest = xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    for point in (
        chest,
        xy[JOINT_INDEX["cnose"]],
        xy[JOINT_INDEX["lelbow"]],
        xy[JOINT_INDEX["lknee"]],
        xy[JOINT_INDEX["rknee"]],
    ):
        assert _at(weight, point) > 0.95
    # Where the forearm was and where it is now: the render's.
    old = 0.5 * (xy[JOINT_INDEX["relbow"]] + xy[JOINT_INDEX["rwrist"]])
    new = 0.5 * (raised.xy[JOINT_INDEX["relbow"]] + raised.xy[JOINT_INDEX["rwrist"]])
    assert _at(weight, old) < 0.05
    assert _at(weight, new) < 0.05
    # The background beside what stayed is the photo's own too (no render halo, no fill);
    # beside the raised forearm it is the render's sleeve or the scene.
    kx, ky = xy[JOINT_INDEX["lknee"]]
    assert _at(weight, np.array([kx + 30.0, ky])) > 0.95
    # An arm stretched out over the background: beside its forearm is the render's sleeve.
    ex, ey = xy[JOINT_INDEX["relbow"]]
    side = (-1.0 if ex < xy[JOINT_INDEX["lelbow"], 0] else 1.0) * 70.0
    out = pose.with_joint(JOINT_INDEX["rwrist"], float(ex) + side, float(ey))
    weight = kept_region(source, out, (0, 0, W, H), scale=1.0, box_side=pose_box(pose).side)
    assert weight is not None
    assert _at(weight, np.array([ex + 0.7 * side, ey + 14.0])) < 0.05


def test_kept_pixels_are_the_photos_own_in_the_composite_tile() -> None:
    source, pose = _person()
    raised = _raised_wrist(pose)
    tile = np.zeros((H - 20, W - 10, 3), np.uint8)  # the blended tile, here all black, at (10, 20)
    out, x, y = with_kept((tile, 10, 20), source, raised, scale=1.0, box_side=pose_box(pose).side)
    assert (x, y) == (10, 20)
    kx, ky = (round(float(v)) for v in pose.xy[JOINT_INDEX["lknee"]])
    assert np.abs(out[ky - 20, kx - 10].astype(int) - source.photo[ky, kx]).max() <= 1
    ox, oy = (
        round(float(v)) for v in 0.5 * (pose.xy[JOINT_INDEX["relbow"]] + pose.xy[JOINT_INDEX["rwrist"]])
    )
    assert out[oy - 20, ox - 10].max() <= 0.05 * 255  # where the forearm was: the tile as blended


def test_moving_every_limb_keeps_nothing_and_a_display_scale_is_honoured() -> None:
    source, pose = _person()
    moved = pose.translated(25.0, 0.0)
    assert kept_region(source, moved, (0, 0, W, H), scale=1.0, box_side=pose_box(pose).side) is None
    # The same edit on a half-size composite keeps the same places (the scale maps the pose).
    small = KeptSource(source.photo, source.person, pose, size=(W // 2, H // 2))  # resized on first use
    raised = _raised_wrist(pose)
    weight = kept_region(small, raised, (0, 0, W // 2, H // 2), scale=0.5, box_side=pose_box(pose).side)
    assert weight is not None
    kx, ky = pose.xy[JOINT_INDEX["lknee"]] * 0.5
    assert weight[round(float(ky)), round(float(kx))] > 0.95


def test_a_person_moved_as_a_whole_is_kept_where_they_now_stand() -> None:
    source, pose = _person()
    moved = pose.translated(40.0, 6.0)  # a whole-skeleton drag
    tile = np.zeros((H, W, 3), np.uint8)
    out, _, _ = with_kept((tile, 0, 0), source, moved, scale=1.0, box_side=pose_box(pose).side)
    kx, ky = (round(float(v)) for v in pose.xy[JOINT_INDEX["lknee"]])
    # The knee's own pixel, 40 px right and 6 down: the person moved, sharp, not re-rendered.
    assert np.abs(out[ky + 6, kx + 40].astype(int) - source.photo[ky, kx]).max() <= 1
    # Where the person's left edge stood and nobody stands now: the tile (the render over
    # the scene): the background does not move with them.
    now = np.zeros_like(source.person)
    now[6:, 40:] = source.person[:-6, :-40]
    left = np.argwhere((source.person > 0.5) & (now == 0.0))
    assert len(left)
    for ry, rx in left[:: max(1, len(left) // 20)]:
        assert out[ry, rx].tolist() == [0, 0, 0]
    # A wrist dragged after the move: the forearm goes on from there, its own pixels carried.
    raised = _raised_wrist(moved)
    out, _, _ = with_kept((tile, 0, 0), source, raised, scale=1.0, box_side=pose_box(pose).side)
    assert _carried(out, source.photo, pose, raised, "relbow", "rwrist")
    assert np.abs(out[ky + 6, kx + 40].astype(int) - source.photo[ky, kx]).max() <= 1


def _tilted_head(pose: Pose, degrees: float) -> Pose:
    xy = pose.xy.astype(np.float64)
    neck = xy[JOINT_INDEX["cneck"]].copy()
    a = np.deg2rad(degrees)
    turn = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    for name in ("cnose", "reye", "leye", "rear", "lear"):
        xy[JOINT_INDEX[name]] = neck + turn @ (xy[JOINT_INDEX[name]] - neck)
    return pose.with_xy(xy.astype(np.float32))


def test_a_tilted_head_is_the_photos_own_face_carried_and_the_body_stays() -> None:
    source, pose = _person()
    tilted = _tilted_head(pose, 25.0)
    # Most joints stayed: this is no whole-skeleton move, whatever the face's joints did.
    assert following(source, tilted, 1.0, 1.0) is source
    tile = np.zeros((H, W, 3), np.uint8)
    out, _, _ = with_kept((tile, 0, 0), source, tilted, scale=1.0, box_side=pose_box(pose).side)
    ox, oy = (round(float(v)) for v in pose.xy[JOINT_INDEX["cnose"]])
    nx, ny = (round(float(v)) for v in tilted.xy[JOINT_INDEX["cnose"]])
    assert (nx, ny) != (ox, oy)
    # The nose's own pixel is where the nose went (the face turned with it, not re-rendered).
    assert np.abs(out[ny, nx].astype(int) - source.photo[oy, ox]).max() <= 4
    # The chest did not move: the photo's own.
    cx, cy = (
        round(float(v))
        for v in pose.xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    )
    assert np.abs(out[cy, cx].astype(int) - source.photo[cy, cx]).max() <= 1


def test_a_dragged_limb_is_the_photos_own_limb_on_its_new_bone() -> None:
    source, pose = _person()
    box_side = pose_box(pose).side
    tile = np.zeros((H, W, 3), np.uint8)  # the render, here all black
    # The forearm raised: its own pixels, turned onto the new bone, not the render's.
    raised = _raised_wrist(pose)
    out, _, _ = with_kept((tile, 0, 0), source, raised, scale=1.0, box_side=box_side)
    assert _carried(out, source.photo, pose, raised, "relbow", "rwrist")
    # Foreshortened: the wrist drawn halfway to the elbow brings the hand there, not past it.
    e, w = pose.xy[JOINT_INDEX["relbow"]], pose.xy[JOINT_INDEX["rwrist"]]
    short = pose.with_joint(JOINT_INDEX["rwrist"], *(e + 0.5 * (w - e)))
    out, _, _ = with_kept((tile, 0, 0), source, short, scale=1.0, box_side=box_side)
    (ox, oy), (nx, ny) = ((round(float(v)) for v in p) for p in (w, short.xy[JOINT_INDEX["rwrist"]]))
    assert np.abs(out[ny, nx].astype(int) - source.photo[oy, ox]).max() <= 12
    # A step: the thigh and shin go with the knee and ankle.
    xy = pose.xy.copy()
    xy[JOINT_INDEX["rknee"], 0] -= 25.0
    xy[JOINT_INDEX["rankle"], 0] -= 50.0
    stepped = pose.with_xy(xy)
    out, _, _ = with_kept((tile, 0, 0), source, stepped, scale=1.0, box_side=box_side)
    assert _carried(out, source.photo, pose, stepped, "rknee", "rankle")
    assert _carried(out, source.photo, pose, stepped, "rhip", "rknee")


def test_a_forearm_held_across_the_chest_is_carried_without_the_chest() -> None:
    source, pose = _person()
    box_side = pose_box(pose).side
    torso = pose.xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    across = pose.with_joint(JOINT_INDEX["rwrist"], float(torso[0]), float(torso[1]))  # as found
    source = KeptSource(source.photo, source.person, across)
    # Swung out about the elbow, its length kept: a point p of the forearm goes to e + R (p - e).
    e = across.xy[JOINT_INDEX["relbow"]].astype(np.float64)
    a = np.deg2rad(-100.0 if e[0] < torso[0] else 100.0)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    w = across.xy[JOINT_INDEX["rwrist"]].astype(np.float64)
    out_pose = across.with_joint(JOINT_INDEX["rwrist"], *(e + rot @ (w - e)))
    tile = np.zeros((H, W, 3), np.uint8)  # the render, here all black
    (weight, _, (x0, y0, _, _)), *_ = carried_limbs(source, out_pose, (0, 0, W, H), scale=1.0, box_side=box_side)

    def carried_at(p: np.ndarray) -> float:
        x, y = (round(float(v)) for v in e + rot @ (p - e))
        return float(weight[y - y0, x - x0])

    d = (w - e) / np.linalg.norm(w - e)
    n = np.array([-d[1], d[0]])
    size = person_height(across)
    on_chest = e + 0.8 * (w - e)  # the forearm where it lay over the torso
    assert carried_at(on_chest) > 0.9  # the arm came along
    assert carried_at(on_chest + 0.07 * size * n) < 0.3  # the chest beside it did not
    assert carried_at(on_chest - 0.07 * size * n) < 0.3
    # The chest itself stays where it was, the photo's own.
    out, _, _ = with_kept((tile, 0, 0), source, out_pose, scale=1.0, box_side=box_side)
    cx, cy = (round(float(v)) for v in torso + np.array([0.0, 0.1 * size]))
    assert np.abs(out[cy, cx].astype(int) - source.photo[cy, cx]).max() <= 1


def test_the_chest_under_an_arm_swung_away_is_filled_from_the_chest_around_it() -> None:
    import cv2

    source, pose = _person()
    torso = pose.xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    across = pose.with_joint(JOINT_INDEX["rwrist"], float(torso[0]), float(torso[1]))  # as found
    size = person_height(across)
    photo = np.full((H, W, 3), 200, np.uint8)
    cv2.fillPoly(photo, [np.round(across.xy[[JOINT_INDEX[j] for j in ("lhip", "lshoulder", "rshoulder", "rhip")]]).astype(np.int32)], (60, 90, 60))  # a green top  # fmt: skip
    e = tuple(round(float(v)) for v in across.xy[JOINT_INDEX["relbow"]])
    w = tuple(round(float(v)) for v in across.xy[JOINT_INDEX["rwrist"]])
    cv2.line(photo, e, w, (230, 30, 30), round(0.06 * size))  # a red sleeve across it
    source = KeptSource(photo, stickman_mask(across, W, H), across)
    out_pose = across.with_joint(JOINT_INDEX["rwrist"], e[0] - 60.0, e[1] + 40.0)  # swung away
    tile = np.zeros((H, W, 3), np.uint8)  # the render, here all black
    out, _, _ = with_kept((tile, 0, 0), source, out_pose, scale=1.0, box_side=pose_box(across).side)
    # Where the sleeve lay on the chest: the green top, neither the sleeve (kept) nor the render.
    for t in (0.6, 0.8):
        x, y = (round(float(v)) for v in np.array(e) + t * (np.array(w) - np.array(e)))
        assert np.abs(out[y, x].astype(int) - (60, 90, 60)).max() <= 25, out[y, x]
    # The sleeve went with the forearm.
    x, y = (round(float(v)) for v in 0.5 * (out_pose.xy[JOINT_INDEX["relbow"]] + out_pose.xy[JOINT_INDEX["rwrist"]]))
    assert np.abs(out[y, x].astype(int) - (230, 30, 30)).max() <= 25, out[y, x]


def test_any_drag_composites_whole_limbs_or_not_without_error() -> None:
    # Random drags: joints far outside the photo, hidden or shown, bones of no length, at
    # full and display scale. The composite is always the tile's size and type.
    source, pose = _person()
    rng = np.random.default_rng(5)
    for k in range(60):
        edited = pose
        for j in rng.choice(len(pose.xy), size=int(rng.integers(1, 5)), replace=False):
            x, y = rng.uniform(-0.5, 1.5) * W, rng.uniform(-0.5, 1.5) * H
            edited = edited.with_joint(int(j), float(x), float(y))
        if k % 7 == 0:  # a wrist dragged onto its elbow
            ex, ey = edited.xy[JOINT_INDEX["relbow"]]
            edited = edited.with_joint(JOINT_INDEX["rwrist"], float(ex), float(ey))
        if k % 5 == 0:
            vis = edited.visible.copy()
            vis[int(rng.integers(len(vis)))] = False
            edited = Pose(edited.xy, vis, edited.image_size)
        scale = 0.5 if k % 2 else 1.0
        src = source if scale == 1.0 else KeptSource(source.photo, source.person, pose, size=(W // 2, H // 2))
        tile = np.zeros((int(H * scale) - 10, int(W * scale) - 4, 3), np.uint8)
        out, x, y = with_kept((tile, 2, 5), src, edited, scale=scale, box_side=pose_box(pose).side)
        assert out.shape == tile.shape
        assert out.dtype == np.uint8
        assert (x, y) == (2, 5)


def test_a_lean_carries_the_torsos_own_pixels_with_its_joints() -> None:
    source, pose = _person()
    xy = pose.xy.copy()
    for j in ("rshoulder", "lshoulder", "relbow", "lelbow", "rwrist", "lwrist"):
        xy[JOINT_INDEX[j], 0] += 15.0  # the shoulders lean right, the hips stay
    leaned = pose.with_xy(xy)
    torso = [JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]
    centre, now = pose.xy[torso].mean(axis=0), leaned.xy[torso].mean(axis=0)  # an affine map keeps means
    tile = np.zeros((H, W, 3), np.uint8)  # the render, here all black
    out, _, _ = with_kept((tile, 0, 0), source, leaned, scale=1.0, box_side=pose_box(pose).side)
    (ox, oy), (nx, ny) = ((round(float(v)) for v in p) for p in (centre, now))
    assert (nx, ny) != (ox, oy)
    assert np.abs(out[ny, nx].astype(int) - source.photo[oy, ox]).max() <= 12  # the chest's own pixel, moved
    # With View ▸ Carry moved limbs off, the chest does not move with the lean.
    off = KeptSource(source.photo, source.person, pose, limbs=False)
    out, _, _ = with_kept((tile, 0, 0), off, leaned, scale=1.0, box_side=pose_box(pose).side)
    assert np.abs(out[ny, nx].astype(int) - source.photo[oy, ox]).max() > 12


def test_a_pose_seen_from_behind_mirrors_the_body_and_renders_the_back_of_the_head() -> None:
    # A pose copied from a photo of someone's back: their right side is on the image's right.
    source, pose = _person()
    swap = list(FLIP_INDEX)  # the same points, each side's joints named for the other side
    behind = Pose(pose.xy[swap], pose.visible[swap], pose.image_size)
    assert (pose.facing(), behind.facing()) == (1, -1)
    tile = np.zeros((H, W, 3), np.uint8)  # the render, here all black
    out, _, _ = with_kept((tile, 0, 0), source, behind, scale=1.0, box_side=pose_box(pose).side)
    torso = [JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]
    cx, cy = pose.xy[torso].mean(axis=0)
    quarter = 0.25 * abs(float(pose.xy[JOINT_INDEX["lshoulder"], 0] - pose.xy[JOINT_INDEX["rshoulder"], 0]))
    # The torso is the photo's own, mirrored: what was a quarter to the left is a quarter to the right.
    for side in (-1.0, 1.0):
        nx, ox = round(float(cx) + side * quarter), round(float(cx) - side * quarter)
        assert np.abs(out[round(float(cy)), nx].astype(int) - source.photo[round(float(cy)), ox]).max() <= 12
    # A forearm is its own, mirrored across its bone: the middle of the bone is still its middle.
    assert _carried(out, source.photo, pose, behind, "relbow", "rwrist")
    # No face on the back of the head: the head is the render's.
    nx, ny = (round(float(v)) for v in behind.xy[JOINT_INDEX["cnose"]])
    assert int(out[ny, nx].max()) <= 12


def _placed(source: KeptSource, found: Pose, pose: Pose) -> np.ndarray:
    """The tile the live view shows for `pose` (a grey render that covers its box)."""
    from vunet_studio.composite import place, stable_box
    from vunet_studio.engine import Render
    from vunet_studio.framing import pose_in_box

    box = stable_box(tuple(pose_box(found)), pose)
    render = Render(np.full((64, 64, 3), 128, np.uint8), box, pose_in_box(pose, box, 64), 0.0, np.ones((64, 64), np.float32))
    scene = np.zeros((H, W, 3), np.uint8)
    done = place(render, pose, scene, frame=False, kept=source)
    assert done.tile is not None
    tile, x, y = done.tile
    out = np.zeros((H, W, 3), np.uint8)
    out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return out


def _cached(source: KeptSource) -> int:
    return sum(len(c) for c in (source._sides, source._limbs, source._lifted, source._holes, source._fills))


def test_a_drag_of_a_hovered_joint_finds_its_masks_made_and_shows_the_same() -> None:
    from vunet_studio.composite import prime

    source, found = _person()
    fresh, _ = _person()
    j = JOINT_INDEX["rwrist"]
    x, y = found.xy[j]
    frames = [found.with_joint(j, float(x) - 2.0 * k, float(y) - 3.0 * k) for k in range(1, 6)]
    prime(np.zeros((H, W, 3), np.uint8), tuple(pose_box(found)), source, found, j)
    made = _cached(source)
    assert made > 0
    for pose in frames:
        shown = _placed(source, found, pose)
        assert _cached(source) == made  # nothing more to make: the first frame is as quick as the rest
        assert np.array_equal(shown, _placed(fresh, found, pose))  # and it shows what an unprimed drag shows


def test_a_wrist_raised_past_the_box_keeps_one_tile_for_many_frames() -> None:
    source, found = _person((110.0, 170.0, 210.0, 390.0))  # room above the person
    j = JOINT_INDEX["rwrist"]
    x = found.xy[j, 0]
    top = float(pose_box(found).y0)
    assert top > 60
    tiles = set()
    for k in range(30):  # the wrist raised from inside the box to far past its top edge
        pose = found.with_joint(j, float(x), top + 40.0 - 5.0 * k)
        _placed(source, found, pose)
        tiles.update(key[1] for key in source._sides)
    # The tile grows with the box, but in steps: the per-drag masks are made a few times, not 30.
    assert len(tiles) <= 6, len(tiles)


def test_a_portrait_keeps_its_chest_when_an_arm_is_raised() -> None:
    # A portrait (hips out of the frame, not found) has no torso joints below the
    # shoulders; its chest must still be the photo's own when an elbow is raised, not go
    # with the arm into the render (the astronaut in ../shared/photos had her patch blurred).
    source, full = _person()
    hidden = [JOINT_INDEX[n] for n in ("rhip", "lhip", "rknee", "lknee", "rankle", "lankle", "rwrist", "lwrist")]
    bust = full
    for j in hidden:
        bust = bust.with_visible(j, False)
    source = KeptSource(source.photo, source.person, bust)
    xy = full.xy
    chest = xy[[JOINT_INDEX[j] for j in ("lhip", "rhip", "lshoulder", "rshoulder")]].mean(axis=0)
    sx, sy = xy[JOINT_INDEX["rshoulder"]]
    raised = bust.with_joint(JOINT_INDEX["relbow"], float(sx) - 60.0, float(sy) - 50.0)
    weight = kept_region(source, raised, (0, 0, W, H), scale=1.0, box_side=pose_box(bust).side)
    assert weight is not None
    assert _at(weight, chest) > 0.95
    # Where the elbow was is still the render's.
    assert _at(weight, xy[JOINT_INDEX["relbow"]]) < 0.05
