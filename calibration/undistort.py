"""Removing lens distortion from frames, with lookup maps computed once per calibration.

The corrected frame is zoomed so that every pixel comes from inside the sensor: keeping the original
matrix would leave black, invented corners on barrel-distorted frames, which the defect model would
see as defects. `getOptimalNewCameraMatrix(alpha=0)` finds the zoom, but per axis; one factor (the
larger) is used for both, so pixels keep the camera's aspect and one mm-per-pixel scale holds in
both directions. Everything measured in corrected frames (scale from a board pose, sizes of
defects) must use `Undistorter.camera_matrix`, not the calibration's.
"""

from __future__ import annotations

import cv2
import numpy as np

from calibration.intrinsics import CameraCalibration
from inspection.errors import ImageError


class Undistorter:
    """Callable that returns a distortion-free copy of a frame from the calibrated camera."""

    def __init__(self, calibration: CameraCalibration) -> None:
        self.calibration = calibration
        self.image_size = calibration.image_size
        matrix, coeffs = calibration.camera_matrix_array, calibration.dist_coeffs_array
        self._camera_matrix = _uniform_zoom(matrix, coeffs, self.image_size)
        self._camera_matrix.flags.writeable = False
        # Fixed-point maps (CV_16SC2): about half the memory traffic of float maps per remap, at 1/32 px
        # interpolation steps, far below what the corners were measured to.
        self._map1, self._map2 = cv2.initUndistortRectifyMap(
            matrix, coeffs, np.eye(3), self._camera_matrix, self.image_size, cv2.CV_16SC2
        )

    @property
    def camera_matrix(self) -> np.ndarray:
        """Pinhole matrix of the corrected frames (read-only); their distortion is zero."""
        return self._camera_matrix

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """A new corrected frame (mono, BGR or BGRA; 8 or 16 bit), the same size and layout as `image`."""
        width, height = self.image_size
        if image.shape[:2] != (height, width):
            raise ImageError(
                f"frame is {image.shape[1]}x{image.shape[0]} px but camera calibration "
                f"{self.calibration.id or '(unsaved)'} is for {width}x{height} px; use the calibration of this "
                "camera at this resolution"
            )
        corrected = cv2.remap(image, self._map1, self._map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        return np.asarray(corrected).reshape(image.shape)  # OpenCV drops a trailing single channel


def _uniform_zoom(matrix: np.ndarray, coeffs: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The all-pixels-valid matrix of OpenCV, with the same zoom on both axes, centred as OpenCV centres it."""
    optimal = np.asarray(cv2.getOptimalNewCameraMatrix(matrix, coeffs, size, 0, size)[0], dtype=np.float64)
    zoom = max(optimal[0, 0] / matrix[0, 0], optimal[1, 1] / matrix[1, 1])
    result = optimal.copy()
    for axis, extent in enumerate(size):
        centre = (extent / 2 - optimal[axis, 2]) / optimal[axis, axis]  # normalised ray at the image centre
        result[axis, axis] = matrix[axis, axis] * zoom
        result[axis, 2] = extent / 2 - result[axis, axis] * centre
    return result
