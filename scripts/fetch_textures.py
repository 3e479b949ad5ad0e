"""Collect photographs for the synthetic people's backgrounds and fabrics into data/textures/.

    .venv/bin/python scripts/fetch_textures.py [--out data/textures] [--install] [--max-side 512]

Sources are Debian's wallpaper packages (real photographs, free licences):
mate-backgrounds, plasma-workspace-wallpapers, ukui-wallpapers, gnome-backgrounds.
`--install` runs `apt-get install` for the ones missing (needs root). Each wallpaper is
stored once (the largest of its sizes), shrunk to --max-side and saved as JPEG, so the
folder stays small (about 5 MB) and can travel with a training run. Never put the
evaluation photos (shared/photos, tests/data/photos) here. The synthetic data works without
this folder (procedural textures stand in); `data/` is git-ignored.
"""

from __future__ import annotations

import argparse
import logging
import re
import shutil
import subprocess
from pathlib import Path

import cv2

log = logging.getLogger("fetch_textures")

PACKAGES = ("mate-backgrounds", "plasma-workspace-wallpapers", "ukui-wallpapers", "gnome-backgrounds")
ROOTS = (Path("/usr/share/backgrounds"), Path("/usr/share/wallpapers"))
SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
# Not photographs of the world: logos, flat stripes and screenshots of the picker.
SKIP = re.compile(r"screenshot|logo|stripes|arc-colors|transparent", re.I)


def install(packages: tuple[str, ...]) -> None:
    apt = shutil.which("apt-get")
    if apt is None:
        log.warning("no apt-get here: install %s by other means", ", ".join(packages))
        return
    subprocess.run([apt, "install", "-y", "--no-install-recommends", *packages], check=False)


def candidates() -> dict[str, Path]:
    """One file per wallpaper (its largest size), keyed by a stable name."""
    best: dict[str, tuple[int, Path]] = {}
    for root in ROOTS:
        if not root.is_dir():
            continue
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in SUFFIXES or not p.is_file() or SKIP.search(str(p)):
                continue
            rel = p.relative_to(root)
            # Plasma: Name/contents/images/1920x1080.jpg; MATE: Name_3840x2160.jpg beside Name.jpg.
            key = (
                rel.parts[0]
                if "contents" in rel.parts
                else re.sub(r"_\d+x\d+$", "", rel.with_suffix("").as_posix())
            )
            key = re.sub(r"[^A-Za-z0-9]+", "_", f"{root.name}_{key}").strip("_")
            size = p.stat().st_size
            if key not in best or size > best[key][0]:
                best[key] = (size, p)
    return {k: v[1] for k, v in sorted(best.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("data/textures"))
    ap.add_argument("--install", action="store_true", help="apt-get install the wallpaper packages first")
    ap.add_argument("--max-side", type=int, default=512)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.install:
        install(PACKAGES)
    args.out.mkdir(parents=True, exist_ok=True)
    n = 0
    for key, path in candidates().items():
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            log.warning("skipping unreadable %s", path)
            continue
        h, w = img.shape[:2]
        f = args.max_side / max(h, w)
        if f < 1:
            img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(args.out / f"{key}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        n += 1
    if n == 0:
        log.warning("no wallpapers found under %s; try --install", ", ".join(map(str, ROOTS)))
    total = sum(p.stat().st_size for p in args.out.glob("*.jpg"))
    log.info("%d textures in %s (%.1f MB)", n, args.out, total / 1e6)


if __name__ == "__main__":
    main()
