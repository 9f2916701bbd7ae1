"""Paths in a config file mean paths relative to that file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo


def _relative_to_config(value: Path, info: ValidationInfo) -> Path:
    """Relative paths in a config file mean relative to that file, not to the working directory."""
    base = (info.context or {}).get("base_dir")
    return value if value.is_absolute() or base is None else Path(base) / value


ConfigPath = Annotated[Path, AfterValidator(_relative_to_config)]
