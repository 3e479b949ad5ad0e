"""RenderEngine: loading, caching, framing, mixing, sampling, errors, and the fast paths' accuracy."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_helpers import tiny_model_config

from vunet_studio.engine import Appearance, AppearanceImage, EngineError, RenderEngine, default_checkpoint
from vunet_studio.fastpath import PRECISION_TOLERANCE, FastVUNet, psnr
from vunet_studio.framing import pose_box, pose_in_box
from vunet_studio.model import VUNet, VUNetConfig, save_checkpoint
from vunet_studio.model_inputs import appearance_input, pose_in_frame, stickman_tensor, to_model_frame
from vunet_studio.pose import Pose
from vunet_studio.skeleton import JOINT_INDEX

torch.set_num_threads(2)

CFG = tiny_model_config()


def _person(seed: int, size: int = 200) -> tuple[np.ndarray, Pose]:
    """A synthetic photo with a person (not square, so framing is exercised) and its pose."""
    rng = np.random.default_rng(seed)
    h, w = size, int(size * 1.5)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    x0 = 0.3 * w + 10 * seed
    pose = Pose.template(w, h, (x0, 0.1 * h, 0.4 * w, 0.8 * h))
    # Paint the torso and limbs so crops are not pure noise.
    body = pose.bbox()
    assert body is not None
    img[int(body[1]) : int(body[3]), int(body[0]) : int(body[2])] = rng.integers(0, 255, 3, dtype=np.uint8)
    return img, pose


def _ddi_model(cfg: VUNetConfig, seed: int = 0) -> VUNet:
    """A random model with the data-dependent init, so activations have trained-like scales."""
    torch.manual_seed(seed)
    m = VUNet(cfg)
    batches = []
    for k in range(2):
        img, pose = _person(k)
        parts = appearance_input(img, pose, cfg)[None]  # (1, 24, P, P)
        local = to_model_frame(img, pose, cfg.image_size)[1]  # the pose in the model's frame
        stick = stickman_tensor(local, cfg.image_size)[None]  # (1, 3, S, S)
        batches.append((parts, stick))
    m.data_dependent_init(batches)
    return m.eval()


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_checkpoint(_ddi_model(CFG), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="module")
def engine(ckpt: Path) -> RenderEngine:
    return RenderEngine(ckpt, device="cpu", precision="fp32", warmup=False)


def test_load_reports_progress(ckpt: Path) -> None:
    steps: list[tuple[float, str]] = []
    eng = RenderEngine(ckpt, device="cpu", progress=lambda f, m: steps.append((f, m)))
    assert eng.image_size == 128
    assert eng.device == "cpu"
    assert eng.precision in ("fp32", "bf16")
    assert steps[0][0] == 0.0
    assert steps[-1] == (1.0, "Ready")
    assert [f for f, _ in steps] == sorted(f for f, _ in steps)
    assert eng.model.is_folded


def test_encode_is_cached(engine: RenderEngine, monkeypatch: pytest.MonkeyPatch) -> None:
    engine.clear_cache()
    calls = []
    real = engine.net.encode
    monkeypatch.setattr(engine.net, "encode", lambda parts: calls.append(1) or real(parts))
    img, pose = _person(1)
    a = engine.encode(AppearanceImage(img, pose))
    b = engine.encode(AppearanceImage(img.copy(), Pose(pose.xy, pose.visible, pose.image_size)))  # equal, other objects
    assert a is b
    assert len(calls) == 1
    engine.encode(AppearanceImage(img, pose.translated(3, 0)))
    assert len(calls) == 2
    # A caller that names its image (the app: photo id and pose) skips hashing the pixels;
    # the name is the cache key, so the same name finds the same appearance.
    named = engine.encode(AppearanceImage(img, pose, key="photo:1"))
    assert engine.encode(AppearanceImage(img, pose, key="photo:1")) is named
    assert len(calls) == 3
    # Prior samples share the cache: one pose and seed draw once.
    drawn = []
    real_sample = engine.model.sample_latents
    monkeypatch.setattr(engine.model, "sample_latents", lambda *a, **k: drawn.append(1) or real_sample(*a, **k))
    assert engine.sample_appearance(pose, 5) is engine.sample_appearance(pose, 5)
    assert len(drawn) == 1
    engine.sample_appearance(pose.with_visible(JOINT_INDEX["lear"], False), 5)
    assert len(drawn) == 2


def test_render_shape_box_and_determinism(engine: RenderEngine) -> None:
    img, pose = _person(2)
    app = engine.encode(AppearanceImage(img, pose))
    target = pose.translated(-20, 5)
    r1 = engine.render(app, target)
    r2 = engine.render(app, target)
    assert r1.image.shape == (128, 128, 3)
    assert r1.image.dtype == np.uint8
    assert np.array_equal(r1.image, r2.image)
    assert r1.box == pytest.approx(pose_box(target))
    assert r1.ms > 0
    # A pose edit changes the render; the same pose moved in the frame moves the box with it.
    rwrist = JOINT_INDEX["rwrist"]
    bent = target.with_joint(rwrist, *(target.xy[rwrist] + (30, -40)))
    assert not np.array_equal(engine.render(app, bent).image, r1.image)
    moved = engine.render(app, target.translated(7, 9))
    assert moved.box[0] == pytest.approx(r1.box[0] + 7)
    assert moved.box[1] == pytest.approx(r1.box[1] + 9)


def test_render_matches_reference_model(engine: RenderEngine) -> None:
    img, pose = _person(3)
    app = engine.encode(AppearanceImage(img, pose))
    parts = engine.appearance_input(AppearanceImage(img, pose))[None]
    target = pose.translated(5, 0)
    stick = stickman_tensor(pose_in_box(target, pose_box(target), 128), 128)[None]
    with torch.no_grad():
        ref = engine.model.transfer(parts, stick)  # (1, 3, S, S)
    out = engine.render(app, target).image.astype(np.int16)
    ref_img = ((ref[0].clamp(-1, 1) + 1) * 127.5).round().permute(1, 2, 0).numpy().astype(np.int16)
    assert np.abs(out - ref_img).max() <= 1


def test_pose_image_size_is_respected(engine: RenderEngine) -> None:
    img, pose = _person(4)
    h, w = img.shape[:2]
    half = pose.scaled(0.5, 0.5)  # the same person, coordinates of a half-size frame
    assert half.image_size == (w // 2, h // 2)
    assert torch.equal(engine.appearance_input(AppearanceImage(img, pose)), engine.appearance_input(AppearanceImage(img, half)))


def test_part_mixing_with_8_appearance_images(engine: RenderEngine) -> None:
    a, pa = _person(5)
    b, pb = _person(6)
    sa, sb = AppearanceImage(a, pa), AppearanceImage(b, pb)
    only_a = engine.encode([sa] * 8)
    assert only_a is engine.encode(sa)
    mixed = engine.encode([sa] * 6 + [sb] * 2)  # top from A, thighs from B
    za, zm = only_a.latents.means, mixed.latents.means
    assert any(not torch.equal(x, y) for x, y in zip(za, zm, strict=True))
    # The mixed input really is A's channels for parts 0-5 and B's for 6-7.
    calls: list[torch.Tensor] = []
    real = engine.net.encode
    engine.net.encode = lambda parts: calls.append(parts) or real(parts)  # type: ignore[method-assign]
    try:
        engine.encode([sb] * 6 + [sa] * 2)
    finally:
        del engine.net.encode
    ia, ib = engine.appearance_input(sa), engine.appearance_input(sb)
    assert torch.equal(calls[0][0, :18], ib[:18])
    assert torch.equal(calls[0][0, 18:], ia[18:])
    with pytest.raises(EngineError, match="one appearance image per body part"):
        engine.encode([sa] * 3)


def test_sample_appearance_deterministic_per_seed(engine: RenderEngine) -> None:
    _, pose = _person(7)
    a1 = engine.render(engine.sample_appearance(pose, 11), pose).image
    a2 = engine.render(engine.sample_appearance(pose, 11), pose).image
    b = engine.render(engine.sample_appearance(pose, 12), pose).image
    assert np.array_equal(a1, a2)
    assert not np.array_equal(a1, b)


def test_appearance_from_latents_roundtrip(engine: RenderEngine) -> None:
    img, pose = _person(8)
    app = engine.encode(AppearanceImage(img, pose))
    again = engine.appearance_from_latents(list(app.latents.means))
    assert isinstance(again, Appearance)
    assert np.array_equal(engine.render(again, pose).image, engine.render(app, pose).image)
    with pytest.raises(EngineError):
        engine.appearance_from_latents([torch.zeros(3, 2, 2)])


def test_pose_without_torso_is_refused(engine: RenderEngine) -> None:
    img, pose = _person(9)
    app = engine.encode(AppearanceImage(img, pose))
    bad = pose.with_visible(JOINT_INDEX["lshoulder"], False)
    with pytest.raises(EngineError, match="shoulders"):
        engine.render(app, bad)
    with pytest.raises(EngineError, match="shoulders"):
        engine.encode(AppearanceImage(img, bad))


def test_a_portrait_without_hips_renders(engine: RenderEngine) -> None:
    """A chest-up photo: the hips are below the frame, the model still gets a torso."""
    img, pose = _person(9)
    below = [JOINT_INDEX[n] for n in ("rhip", "lhip", "rknee", "lknee", "rankle", "lankle")]
    portrait = pose.with_visible(below, False)
    app = engine.encode(AppearanceImage(img, portrait))
    out = engine.render(app, portrait.with_joint(JOINT_INDEX["rwrist"], 40.0, 30.0))
    assert out.image.shape == (engine.image_size, engine.image_size, 3)
    assert out.pose.has_torso()  # what the model saw: the inferred hips


def test_render_from_a_worker_thread(engine: RenderEngine) -> None:
    img, pose = _person(10)
    app = engine.encode(AppearanceImage(img, pose))
    main = engine.render(app, pose).image
    out: list[np.ndarray] = []
    t = threading.Thread(target=lambda: out.append(engine.render(app, pose).image))
    t.start()
    t.join()
    assert np.array_equal(out[0], main)


def test_thread_count_applies_on_the_calling_thread(ckpt: Path) -> None:
    eng = RenderEngine(ckpt, device="cpu", precision="fp32", threads=1, warmup=False)
    img, pose = _person(11)
    app = eng.encode(AppearanceImage(img, pose))
    seen: list[int] = []

    def worker() -> None:
        torch.set_num_threads(2)  # torch's count is per OS thread; the engine must apply its own
        eng.render(app, pose)
        seen.append(torch.get_num_threads())

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert eng.threads == 1
    assert seen == [1]
    torch.set_num_threads(2)


# --- errors ---------------------------------------------------------------------------------------
def test_missing_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match=r"nope.safetensors.*not found"):
        RenderEngine(tmp_path / "nope.safetensors")


def test_missing_default_checkpoint_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("vunet_studio.engine.default_checkpoint", lambda: tmp_path / "bundled.safetensors")
    with pytest.raises(EngineError, match=r"bundled model.*missing.*checkout"):
        RenderEngine()
    assert default_checkpoint().name == "vunet_synth128.safetensors"


@pytest.mark.parametrize(
    "content", [b"", b"not a safetensors file at all", b"\x10\x00\x00\x00\x00\x00\x00\x00{}"]
)
def test_corrupt_checkpoint(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(content)
    with pytest.raises(EngineError, match=r"bad.safetensors") as info:
        RenderEngine(bad)
    assert "checkpoint" in str(info.value)


def test_truncated_checkpoint(ckpt: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    with pytest.raises(EngineError, match=r"cut.safetensors"):
        RenderEngine(cut)


def test_bad_device_and_precision(ckpt: Path) -> None:
    with pytest.raises(EngineError, match="device"):
        RenderEngine(ckpt, device="tpu")
    with pytest.raises(EngineError, match="precision"):
        RenderEngine(ckpt, precision="int4")
    if not torch.cuda.is_available():
        with pytest.raises(EngineError, match="CUDA"):
            RenderEngine(ckpt, device="cuda")


# --- fast paths vs the reference forward ---------------------------------------------------------
@pytest.mark.parametrize(
    ("precision", "options"),
    [
        ("fp32", {"channels_last": False}),
        ("fp32", {"channels_last": True, "packed": False}),
        ("fp32", {"channels_last": True}),
        ("bf16", {"channels_last": True, "packed": False}),
        ("bf16", {"channels_last": True}),
    ],
)
def test_fast_path_matches_reference(precision: str, options: dict[str, bool]) -> None:
    model = _ddi_model(CFG, seed=1)
    fast = FastVUNet(model, precision=precision, **options)
    for k in range(2):
        src_img, src_pose = _person(20 + k)
        _, dst_pose = _person(30 + k)
        parts = appearance_input(src_img, src_pose, CFG)[None]  # (1, 24, P, P)
        stick = stickman_tensor(pose_in_frame(dst_pose, 128, 128), 128)[None]  # (1, 3, S, S)
        with torch.no_grad():
            ref = model.transfer(parts, stick)
        out = fast.decode(stick, fast.prepare(fast.encode(parts)))
        assert out.dtype == torch.float32
        assert out.shape == ref.shape
        assert psnr(out, ref) >= PRECISION_TOLERANCE[precision]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16"])
def test_fast_path_matches_reference_cuda(precision: str) -> None:
    model = _ddi_model(CFG, seed=1)
    fast = FastVUNet(model, precision=precision, device="cuda")
    src_img, src_pose = _person(20)
    _, dst_pose = _person(30)
    parts = appearance_input(src_img, src_pose, CFG)[None]  # (1, 24, P, P)
    stick = stickman_tensor(pose_in_frame(dst_pose, 128, 128), 128)[None]  # (1, 3, S, S)
    with torch.no_grad():
        ref = model.transfer(parts, stick)
    out = fast.decode(stick, fast.prepare(fast.encode(parts))).cpu()
    assert psnr(out, ref) >= PRECISION_TOLERANCE[precision]
