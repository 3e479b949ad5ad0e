"""The openpifpaf pose estimator (the maintained fork `openpifpaf-vita`, import name `openpifpaf`).

openpifpaf and torch are imported only inside the functions here, so importing
`vunet_studio.estimation` stays cheap and works where openpifpaf is not installed.

We run openpifpaf's own network, decoder and pre-processing transforms, but not its
`Predictor`: the Predictor configures the network through process-wide class attributes
(`network.Factory.checkpoint`) and loads local checkpoints with a bare `torch.load`, which
torch >= 2.6 refuses for openpifpaf's pickled modules. Building the same pipeline here lets us
load exactly the file the user chose, bound any download with a timeout, and also wrap a
network built in memory (tests, offline smoke checks).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from vunet_studio.estimation.base import (
    DEFAULT_THRESHOLD,
    EstimatorUnavailable,
    poses_from_coco17,
)
from vunet_studio.imageio import as_rgb_uint8
from vunet_studio.pose import Pose
from vunet_studio.skeleton import COCO17_NAMES

if TYPE_CHECKING:
    import torch

LOG = logging.getLogger(__name__)

#: openpifpaf's own default model: a good balance of speed and accuracy on a CPU.
DEFAULT_CHECKPOINT = "shufflenetv2k16"
#: Longer photo sides are scaled down to this before the network (openpifpaf's COCO
#: evaluation size); detection on a 4000-pixel photo would take minutes on a CPU and is no
#: more accurate for whole people. Poses come back in the original photo's pixels.
DEFAULT_LONG_EDGE = 641
#: Seconds without progress before a checkpoint download gives up, so an offline machine
#: whose firewall drops packets reports "offline" instead of hanging the app's worker.
DOWNLOAD_TIMEOUT_S = 20.0

_INSTALL_HINT = (
    "Install it with `pip install --no-build-isolation openpifpaf-vita` (after torch and "
    "torchvision), or start from the template pose and place the joints by hand."
)

#: (downloaded bytes, total bytes or 0 when unknown)
ProgressCallback = Callable[[int, int], None]


def import_openpifpaf() -> Any:
    """The `openpifpaf` module, or EstimatorUnavailable saying it is missing or broken."""
    try:
        import openpifpaf
    except ImportError as e:
        raise EstimatorUnavailable(
            f"Automatic pose detection needs the openpifpaf package, which is not installed ({e}). "
            + _INSTALL_HINT
        ) from e
    except Exception as e:  # a compiled extension built against another torch fails in odd ways
        raise EstimatorUnavailable(
            f"The openpifpaf package is installed but could not be loaded ({type(e).__name__}: {e}). "
            "Reinstall it against the installed torch, or place the joints by hand."
        ) from e
    return openpifpaf


# --- checkpoints ------------------------------------------------------------------
def available_checkpoint_names() -> list[str]:
    """Checkpoint names openpifpaf can download for COCO people (needs openpifpaf)."""
    op = import_openpifpaf()
    return sorted(
        name
        for name, url in op.CHECKPOINT_URLS.items()
        if url is not op.PRETRAINED_UNAVAILABLE and "cocokp" in str(url)
    )


def cache_path_for(name: str) -> Path | None:
    """Where openpifpaf keeps checkpoint `name` in the torch hub cache (None: unknown name)."""
    op = import_openpifpaf()
    import torch

    url = op.CHECKPOINT_URLS.get(name)
    if not isinstance(url, str):
        return None
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def _looks_like_path(checkpoint: str) -> bool:
    return os.sep in checkpoint or "/" in checkpoint or Path(checkpoint).suffix != ""


def _download(url: str, target: Path, progress: ProgressCallback | None) -> None:
    """Fetch `url` into `target` with a timeout and torch hub's file-name hash check."""
    import torch

    match = torch.hub.HASH_REGEX.search(target.name)
    hash_prefix = match.group(1) if match else None
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique partial file: two app windows downloading at once must not interleave bytes.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    sha = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response, open(tmp, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 16):
                f.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if hash_prefix and not sha.hexdigest().startswith(hash_prefix):
            raise EstimatorUnavailable(
                f"The downloaded pose checkpoint {target.name} is corrupt (checksum mismatch). "
                "Try again later, or choose a checkpoint file you already have."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _checkpoint_file_for_name(name: str, allow_download: bool, progress: ProgressCallback | None) -> Path:
    op = import_openpifpaf()
    url = op.CHECKPOINT_URLS.get(name)
    if url is op.PRETRAINED_UNAVAILABLE:
        raise EstimatorUnavailable(
            f"openpifpaf has no trained weights for '{name}'. "
            f"Choose one of: {', '.join(available_checkpoint_names())}."
        )
    if not isinstance(url, str):
        raise EstimatorUnavailable(
            f"'{name}' is neither a pose checkpoint file nor a known openpifpaf checkpoint name. "
            f"Choose a checkpoint file, or one of: {', '.join(available_checkpoint_names())}."
        )
    cached = cache_path_for(name)
    assert cached is not None
    if cached.is_file():
        return cached
    if not allow_download:
        raise EstimatorUnavailable(
            f"The pose checkpoint '{name}' has not been downloaded yet (looked in {cached.parent}). "
            "Connect to the internet once to download it, or choose a checkpoint file you already have."
        )
    LOG.info("downloading pose checkpoint %s from %s", name, url)
    try:
        _download(url, cached, progress)
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as e:
        reason = getattr(e, "reason", None) or e
        raise EstimatorUnavailable(
            f"The pose checkpoint '{name}' is not on this computer and could not be downloaded "
            f"({reason}). Connect to the internet and try again, or choose a checkpoint file "
            f"you already have (it would be saved to {cached.parent})."
        ) from e
    return cached


def load_checkpoint_file(path: str | os.PathLike[str]) -> torch.nn.Module:
    """openpifpaf's network from a checkpoint file the user chose (or openpifpaf downloaded).

    openpifpaf checkpoints are whole pickled modules, and unpickling a file can run any code
    it names, so a file the user picked is never unpickled freely. It is loaded with
    `torch.load(weights_only=True)` plus an allow-list of exactly the classes a network needs:
    torch.nn layers and openpifpaf's own network and head-meta classes (and numpy's array
    rebuilding). The file's globals are checked first; one outside that list (`os.system`,
    any other module) refuses the file with a message naming it, and nothing of it runs.
    The allow-list is in force only during this one load, never process-wide, so every other
    `torch.load` in the app stays as strict as before.
    """
    op = import_openpifpaf()
    import importlib
    import inspect
    import re

    import torch

    p = Path(path)
    if not p.is_file():
        raise EstimatorUnavailable(
            f"The pose checkpoint file {p} does not exist. Choose another file, or use a "
            f"checkpoint name such as '{DEFAULT_CHECKPOINT}'."
        )
    # Modules whose nn.Module classes (and openpifpaf's head metas) a checkpoint may name; only
    # these are ever imported to look a name up, so naming a module cannot run its code either.
    module_prefixes = ("torch.nn.modules.", "openpifpaf.", "torchvision.models.", "torchvision.ops.")
    plain = {  # numpy arrays inside head metas, and containers old releases pickled
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray.scalar",
        "numpy.core.multiarray.scalar",
        "numpy.ndarray",
        "numpy.dtype",
        "builtins.set",
        "builtins.frozenset",
        "collections.OrderedDict",
        "_codecs.encode",
    }

    def resolve(name: str) -> Any:
        """The object a pickle global "module.qualname" names if the allow-list admits it, else None."""
        parts = name.split(".")
        if name in plain:
            return getattr(importlib.import_module(".".join(parts[:-1])), parts[-1], None)
        if name.startswith("numpy.dtypes.") and len(parts) == 3:  # the classes of numpy's dtypes
            obj: Any = getattr(np.dtypes, parts[-1], None)
            return obj if inspect.isclass(obj) and issubclass(obj, np.dtype) else None
        if not name.startswith(module_prefixes):
            return None
        for cut in range(len(parts) - 1, 0, -1):
            module = ".".join(parts[:cut])
            if not (module + ".").startswith(module_prefixes):
                continue
            try:
                obj = importlib.import_module(module)
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr, None)
            if not inspect.isclass(obj):
                return None  # functions could do anything with their arguments
            if issubclass(obj, torch.nn.Module):
                return obj
            if name.startswith("openpifpaf.headmeta.") and issubclass(obj, op.headmeta.Base):
                return obj  # plain dataclasses describing the heads
            return None
        return None

    def unreadable(e: Exception) -> EstimatorUnavailable:
        # torch's weights_only errors wrap the reason in paragraphs of advice: keep the reason.
        boiler = ("Weights only load failed", "Please file an issue", "Check the documentation")
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.startswith(boiler)]
        why = (lines[0] if lines else str(e))[:200]
        return EstimatorUnavailable(
            f"The file {p.name} could not be read as an openpifpaf checkpoint "
            f"({type(e).__name__}: {why}). Choose an openpifpaf checkpoint file (.pkl or .pt)."
        )

    def refuse(name: str) -> EstimatorUnavailable:
        LOG.warning("refused pose checkpoint %s: it names %s", p, name)
        return EstimatorUnavailable(
            f"The file {p.name} was not loaded: it names {name}, code outside openpifpaf's network "
            "that loading the file would run. Choose a checkpoint saved by openpifpaf, or a "
            f"checkpoint name such as '{DEFAULT_CHECKPOINT}'."
        )

    allowed: dict[str, Any] = {}

    def admit(name: str) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.core's deprecation shim for old pickles
            obj = resolve(name)
        if obj is None:
            raise refuse(name)
        allowed[name] = obj

    try:
        names = sorted(torch.serialization.get_unsafe_globals_in_checkpoint(p))
    except ValueError:  # the legacy (pre-zip) format: its globals are found while loading, below
        names = []
    except Exception as e:  # a damaged file
        raise unreadable(e) from e
    for name in names:
        admit(name)
    # weights_only refuses each global not yet allowed (a legacy file, or one the static scan
    # missed): admit it and try again if the allow-list takes it, else refuse the file.
    unknown = re.compile(
        r"GLOBAL ([\w.]+) (?:was not an allowed global|whose module)|Can only build .* but got <class '([\w.]+)'>"
    )
    for _ in range(200):
        try:
            with torch.serialization.safe_globals(list(allowed.values())):
                obj = torch.load(p, map_location="cpu", weights_only=True)
            break
        except EstimatorUnavailable:
            raise
        except Exception as e:  # a damaged file raises almost anything
            if "Only persistent_load of storage is allowed" in str(e):
                # torch's pre-1.6 format stores a pickled network with its source code, which
                # only an unrestricted (code-running) load reads.
                raise EstimatorUnavailable(
                    f"The file {p.name} was not loaded: it is in torch's old (pre-1.6) format, whose "
                    "pickled network cannot be read without running code from the file. Use a current "
                    f"openpifpaf checkpoint (a name such as '{DEFAULT_CHECKPOINT}' downloads one)."
                ) from e
            m = unknown.search(str(e))
            missing = m and (m.group(1) or m.group(2))
            if not missing or missing in allowed:
                raise unreadable(e) from e
            admit(missing)
    else:
        raise EstimatorUnavailable(f"The file {p.name} names too many classes for an openpifpaf checkpoint.")
    net = obj.get("model") if isinstance(obj, dict) else obj
    if not isinstance(net, op.network.nets.Shell):
        raise EstimatorUnavailable(
            f"The file {p.name} is not an openpifpaf checkpoint (it holds "
            f"{'weights only' if isinstance(obj, dict) else type(obj).__name__}, not a network). "
            "Choose a checkpoint saved by openpifpaf."
        )
    op.network.model_migration.model_migration(net)  # older releases' attribute names
    return net


def untrained_network(base_name: str = DEFAULT_CHECKPOINT) -> torch.nn.Module:
    """A COCO person network with random weights, built offline by openpifpaf's factory.

    It runs the real network and decoder (and finds nobody): for tests and smoke checks.
    Use a base without torchvision-pretrained parts (the shufflenetv2k family) to stay offline.
    """
    op = import_openpifpaf()
    from openpifpaf.plugins.coco.cocokp import CocoKp

    # An instance keyword (not the class attribute) so no global openpifpaf setting changes.
    net, _ = op.network.Factory(base_name=base_name).factory(head_metas=CocoKp().head_metas)
    return net


# --- the estimator ----------------------------------------------------------------
class OpenPifPafEstimator:
    """openpifpaf's network + decoder behind the `PoseEstimator` interface.

    Holds the network; not safe to call from several threads at once (the app keeps one
    worker thread that owns it).
    """

    def __init__(
        self,
        net: torch.nn.Module,
        *,
        device: str = "auto",
        threshold: float = DEFAULT_THRESHOLD,
        long_edge: int | None = DEFAULT_LONG_EDGE,
    ) -> None:
        op = import_openpifpaf()
        # A plain list on openpifpaf's Shell network (torch types module attributes as tensors or modules).
        head_metas = cast(list[Any], net.head_metas)
        cif = next((m for m in head_metas if isinstance(m, op.headmeta.Cif)), None)
        if cif is None or len(cif.keypoints) != len(COCO17_NAMES):
            raise EstimatorUnavailable(
                "This openpifpaf checkpoint does not detect the 17 COCO body joints of people "
                f"(it detects {len(cif.keypoints) if cif else 'no'} keypoints). "
                f"Choose a COCO person checkpoint such as '{DEFAULT_CHECKPOINT}'."
            )
        from vunet_studio.devices import DeviceError, resolve_device  # lazy: it imports torch

        try:
            self.device = resolve_device(device)
        except DeviceError as e:
            raise EstimatorUnavailable(f"Pose detection cannot run there: {e}.") from e
        self.net = net.eval().to(self.device)
        self.threshold = float(threshold)
        self.long_edge = long_edge
        self._op = op
        # CifCaf is what openpifpaf's factory picks for COCO people anyway; naming it avoids the
        # factory's process-wide `decoder_request` setting and its "which decoder?" log message.
        cifcaf = op.decoder.CifCaf.factory(head_metas)
        self._decoder = op.decoder.multi.Multi(cifcaf[:1]) if cifcaf else op.decoder.factory(head_metas)

    @classmethod
    def from_network(cls, net: torch.nn.Module, **kwargs: Any) -> OpenPifPafEstimator:
        """Wrap a network already in memory (e.g. `untrained_network()`)."""
        return cls(net, **kwargs)

    def _preprocess(self, width: int, height: int) -> Any:
        t = self._op.transforms
        steps = [t.NormalizeAnnotations()]
        if self.long_edge and max(width, height) > self.long_edge:
            steps.append(t.RescaleAbsolute(self.long_edge))
        # Pad to a multiple of the network stride (+1), as openpifpaf's Predictor does.
        steps += [t.CenterPadTight(16), t.EVAL_TRANSFORM]
        return t.Compose(steps)

    def annotations(self, image_rgb_uint8: np.ndarray) -> list[Any]:
        """openpifpaf's raw annotations, in pixels of the given image."""
        import PIL.Image

        img = as_rgb_uint8(image_rgb_uint8)
        h, w = img.shape[:2]
        pil = PIL.Image.fromarray(img)
        processed, _, meta = self._preprocess(w, h)(pil, [], {"dataset_index": 0})
        batch = processed.unsqueeze(0)  # (1, 3, H', W')
        (anns,) = self._decoder.batch(self.net, batch, device=self.device)
        return [ann.inverse_transform(meta) for ann in anns]

    def estimate(self, image_rgb_uint8: np.ndarray) -> list[Pose]:
        img = as_rgb_uint8(image_rgb_uint8)
        anns = self.annotations(img)
        poses = annotations_to_poses(anns, self.threshold, (img.shape[1], img.shape[0]))
        LOG.debug("openpifpaf found %d people (%d kept)", len(anns), len(poses))
        return poses


def annotations_to_poses(
    annotations: list[Any], threshold: float = DEFAULT_THRESHOLD, image_size: tuple[int, int] | None = None
) -> list[Pose]:
    """openpifpaf annotations (anything with a (17, 3) `.data`) -> poses, largest first."""
    return poses_from_coco17((np.asarray(a.data) for a in annotations), threshold, image_size)


def create(
    checkpoint: str | None = None,
    device: str = "auto",
    *,
    threshold: float = DEFAULT_THRESHOLD,
    long_edge: int | None = DEFAULT_LONG_EDGE,
    allow_download: bool = True,
    progress: ProgressCallback | None = None,
) -> OpenPifPafEstimator:
    """The estimator for a checkpoint name (downloaded into the torch hub cache if needed and
    allowed) or a local checkpoint file; see `vunet_studio.estimation.create_estimator`."""
    op = import_openpifpaf()
    name = checkpoint or DEFAULT_CHECKPOINT
    if Path(name).expanduser().is_file():
        path = Path(name).expanduser()
    elif name in op.CHECKPOINT_URLS:
        path = _checkpoint_file_for_name(name, allow_download, progress)
    elif _looks_like_path(name):
        raise EstimatorUnavailable(
            f"The pose checkpoint file {name} does not exist. Choose another file, or use a "
            f"checkpoint name such as '{DEFAULT_CHECKPOINT}'."
        )
    else:
        path = _checkpoint_file_for_name(name, allow_download, progress)  # raises: unknown name
    LOG.info("loading pose checkpoint %s", path)
    try:
        net = load_checkpoint_file(path)
        return OpenPifPafEstimator(net, device=device, threshold=threshold, long_edge=long_edge)
    except EstimatorUnavailable:
        raise
    except Exception as e:
        # The app must fall back to the template, not crash, on anything unforeseen (an
        # openpifpaf release with other internals, a GPU out of memory); the log keeps the details.
        LOG.exception("could not start openpifpaf with %s", path)
        raise EstimatorUnavailable(
            f"Pose detection could not start ({type(e).__name__}: {e}). "
            "Place the joints by hand, or try another checkpoint or the device 'cpu'."
        ) from e
