"""Calibration files: versioned JSON records with an id that names their content.

Every calibration result (camera geometry, scale, image-health reference, thresholds) is one
record. Its id is `<kind>-<utc date>-<8 hex of the content hash>`, so a decision that quotes the
id can be traced to the exact file, and two different files can never share an id.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TypeVar

from pydantic import Field, ValidationError

from inspection.errors import InspectionError
from inspection.strict import StrictModel
from inspection.timebase import utc_now_text

R = TypeVar("R", bound="CalibrationRecord")


class CalibrationError(InspectionError):
    """A calibration cannot be computed, or a calibration file is missing or invalid."""


class CalibrationRecord(StrictModel):
    """Fields every calibration file has; subclasses add their results."""

    kind: str = Field(description="what this file calibrates: camera, scale, health, thresholds")
    id: str = Field(default="", description="<kind>-<date>-<content hash>; set by `stamped()`")
    created_utc: str = Field(default_factory=utc_now_text, description="when it was computed, UTC")
    notes: str = Field(default="", description="free text: who, which rig, why")

    def stamped(self: R) -> R:
        """This record with its id computed from its content (every field but the id)."""
        body = json.dumps(self.model_dump(mode="json", exclude={"id"}), sort_keys=True).encode()
        digest = hashlib.sha256(body).hexdigest()[:8]
        return self.model_copy(update={"id": f"{self.kind}-{self.created_utc[:10]}-{digest}"})


def save_record(record: CalibrationRecord, folder: Path) -> Path:
    """Writes `<folder>/<id>.json` (stamping the record first) and returns the path."""
    stamped = record if record.id else record.stamped()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stamped.id}.json"
    path.write_text(json.dumps(stamped.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    return path


def load_record(path: Path, model: type[R]) -> R:
    """Reads and validates a calibration file, naming the file and each bad field."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CalibrationError(f"calibration file {path} not found; run `inspection calibrate` to make it") from None
    except OSError as exc:
        raise CalibrationError(f"calibration file {path} cannot be read: {exc}") from None
    return parse_record(text, model, f"calibration file {path}")


def parse_record(text: str, model: type[R], name: str) -> R:
    """Validates a calibration record's JSON text (from a file or an upload); `name` says where it came from."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{name} is not JSON: {exc}") from None
    try:
        record = model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise CalibrationError(f"{name} is not a valid {model.__name__}: {problems}") from None
    if record.id != record.stamped().id:
        raise CalibrationError(
            f"{name} was edited after it was made (its id {record.id!r} no longer matches its "
            "content); re-run the calibration instead of editing the file"
        )
    return record
