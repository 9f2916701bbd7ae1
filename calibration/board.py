"""The calibration target: a checkerboard or a ChArUco board, and its CLI text form.

The text form (`checkerboard:10x7:20`, `charuco:10x7:20:15:DICT_5X5_100`) counts squares, as printed
boards are labelled, while OpenCV's checkerboard detector wants inner corners; `pattern_size` converts.
"""

from __future__ import annotations

from typing import Any, Literal

import cv2
import numpy as np
from pydantic import Field, ValidationError, model_validator

from calibration.record import CalibrationError
from inspection.strict import StrictModel

BOARD_FORMS = "checkerboard:COLUMNSxROWS:SQUARE_MM or charuco:COLUMNSxROWS:SQUARE_MM:MARKER_MM:DICTIONARY"


def aruco_dictionary_names() -> list[str]:
    return sorted(name for name in dir(cv2.aruco) if name.startswith("DICT_"))


class Board(StrictModel):
    """A planar target; its corner coordinates are in mm with x along columns, y along rows, z = 0."""

    kind: Literal["checkerboard", "charuco"] = Field(description="checkerboard, or ChArUco (markers in white squares)")
    columns: int = Field(ge=3, le=100, description="squares along the board's x axis")
    rows: int = Field(ge=3, le=100, description="squares along the board's y axis")
    square_mm: float = Field(gt=0, description="side of one square, mm, as measured on the printed board")
    marker_mm: float | None = Field(default=None, gt=0, description="ChArUco only: side of one marker, mm")
    dictionary: str | None = Field(default=None, description="ChArUco only: ArUco dictionary, e.g. DICT_5X5_100")

    @model_validator(mode="after")
    def _charuco_fields(self) -> Board:
        if self.kind == "checkerboard":
            if self.marker_mm is not None or self.dictionary is not None:
                raise ValueError("a checkerboard has no markers; marker_mm and dictionary are for ChArUco boards")
            return self
        if self.marker_mm is None or self.dictionary is None:
            raise ValueError("a ChArUco board needs marker_mm and dictionary")
        if self.marker_mm >= self.square_mm:
            raise ValueError(f"marker_mm {self.marker_mm} must be smaller than square_mm {self.square_mm}")
        if self.dictionary not in aruco_dictionary_names():
            raise ValueError(f"unknown ArUco dictionary {self.dictionary!r}; use one of {aruco_dictionary_names()}")
        markers = self.columns * self.rows // 2
        size = int(self.dictionary.rsplit("_", 1)[1]) if self.dictionary.rsplit("_", 1)[1].isdigit() else markers
        if size < markers:
            raise ValueError(f"{self.dictionary} has {size} markers, the board needs {markers}")
        return self

    @property
    def pattern_size(self) -> tuple[int, int]:
        """Inner corners (per row, per column): what OpenCV's checkerboard detector is given."""
        return self.columns - 1, self.rows - 1

    @property
    def corner_count(self) -> int:
        return (self.columns - 1) * (self.rows - 1)

    @property
    def size_mm(self) -> tuple[float, float]:
        """(width, height) of the squared area, mm."""
        return self.columns * self.square_mm, self.rows * self.square_mm

    def object_points(self) -> np.ndarray:
        """Inner corners, (N, 3) float32 mm, row by row: the order both detectors report them in."""
        xs, ys = np.meshgrid(np.arange(1, self.columns), np.arange(1, self.rows))
        points = np.stack([xs.ravel(), ys.ravel(), np.zeros(xs.size)], axis=1) * self.square_mm
        return points.astype(np.float32)

    def charuco_board(self) -> Any:
        """The OpenCV `CharucoBoard` (in mm); only for ChArUco boards."""
        if self.kind != "charuco" or self.marker_mm is None or self.dictionary is None:
            raise CalibrationError(f"a {self.kind} board has no ChArUco markers")
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, self.dictionary))
        return cv2.aruco.CharucoBoard((self.columns, self.rows), self.square_mm, self.marker_mm, dictionary)

    def text(self) -> str:
        """The CLI text form, which `parse_board` reads back."""
        head = f"{self.kind}:{self.columns}x{self.rows}:{self.square_mm:g}"
        return head if self.kind == "checkerboard" else f"{head}:{self.marker_mm:g}:{self.dictionary}"


def _number(text: str, what: str, spec: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise CalibrationError(f"board {spec!r}: {what} {text!r} is not a number; expected {BOARD_FORMS}") from None


def parse_board(spec: str) -> Board:
    """Reads `checkerboard:10x7:20` or `charuco:10x7:20:15:DICT_5X5_100`; errors say which part is wrong."""
    parts = spec.strip().split(":")
    kind = parts[0].lower()
    expected = {"checkerboard": 3, "charuco": 5}
    if kind not in expected:
        raise CalibrationError(f"board {spec!r}: unknown kind {parts[0]!r}; expected {BOARD_FORMS}")
    if len(parts) != expected[kind]:
        raise CalibrationError(
            f"board {spec!r}: {kind} needs {expected[kind]} ':'-separated parts; expected {BOARD_FORMS}"
        )
    counts = parts[1].lower().split("x")
    if len(counts) != 2 or not all(c.isdigit() for c in counts):
        raise CalibrationError(f"board {spec!r}: {parts[1]!r} is not COLUMNSxROWS (squares, e.g. 10x7)")
    fields: dict[str, Any] = {
        "kind": kind,
        "columns": int(counts[0]),
        "rows": int(counts[1]),
        "square_mm": _number(parts[2], "square size", spec),
    }
    if kind == "charuco":
        fields["marker_mm"] = _number(parts[3], "marker size", spec)
        fields["dictionary"] = parts[4].upper()
    try:
        return Board(**fields)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'board'}: {e['msg']}" for e in exc.errors())
        raise CalibrationError(f"board {spec!r}: {problems}") from None
