"""Ground truth from a labels CSV (`path,label`), for archives not sorted into label folders."""

from __future__ import annotations

import csv
from pathlib import Path

from inspection.errors import ConfigError
from inspection.labels import DEFECT_NAMES, GOOD_NAMES
from inspection.replay.rows import Label


def load_labels(path: Path) -> dict[str, Label]:
    """Relative path -> label; every unknown label value is an error naming its line."""
    labels: dict[str, Label] = {}
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is None or not {"path", "label"} <= set(reader.fieldnames):
                raise ConfigError(f"labels file {path} needs a header with 'path' and 'label' columns")
            for line, record in enumerate(reader, start=2):
                value = (record["label"] or "").strip().lower()
                if value in GOOD_NAMES:
                    labels[record["path"]] = "good"
                elif value in DEFECT_NAMES:
                    labels[record["path"]] = "defect"
                else:
                    allowed = sorted(GOOD_NAMES | DEFECT_NAMES)
                    raise ConfigError(f"labels file {path} line {line}: label {value!r} is not one of {allowed}")
    except OSError as exc:
        raise ConfigError(f"labels file {path} cannot be read ({exc.strerror})") from None
    return labels
