"""Loading a thresholds file for the model in use: thresholds belong to the model they were calibrated on."""

from __future__ import annotations

from pathlib import Path

from calibration.record import CalibrationError, load_record
from calibration.thresholds import ThresholdsCalibration
from inspection.model_card import Thresholds


def load_thresholds(path: Path, model_id: str) -> Thresholds:
    """The file's thresholds, versioned by its id; refused for any other model than the one calibrated."""
    record = load_record(path, ThresholdsCalibration)
    if record.model_id != model_id:
        raise CalibrationError(
            f"thresholds file {path} was calibrated for model {record.model_id[:12]}, not for the model in use "
            f"({model_id[:12]}); run `inspection calibrate thresholds` with this model, or use the matching model"
        )
    return record.to_thresholds()
