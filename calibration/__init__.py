"""Camera calibration: intrinsics, scale, image health, thresholds and golden samples."""
