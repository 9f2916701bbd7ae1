"""Ground truth from folder names, the way inspection archives are usually sorted."""

from __future__ import annotations

from pathlib import Path

GOOD_NAMES = frozenset({"good", "ok", "pass"})
DEFECT_NAMES = frozenset({"defect", "ng", "bad", "reject"})


def label_of(path: Path, root: Path) -> bool | None:
    """True for defective, False for good, None when no folder on the way says."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        name = part.lower()
        if name in GOOD_NAMES:
            return False
        if name in DEFECT_NAMES:
            return True
    return None


def mask_path(image_path: Path) -> Path:
    """Where a defect image's pixel mask lives: `masks/` beside it, same file name."""
    return image_path.parent / "masks" / (image_path.stem + ".png")
