"""Where the project's bundled data lives (the package is installed editable, beside it)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BUNDLED_MODEL = PROJECT_ROOT / "models" / "flange_defect" / "flange_defect.onnx"
SAMPLE_IMAGES = PROJECT_ROOT / "sample_images"
