"""The model card: what a model expects, what it outputs, how to judge it, and proof of identity.

A card travels beside its ONNX file (`<model>.card.json`). The runtime trusts nothing the card
does not state, and checks the ONNX file against every statement it can.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator

from inspection.errors import CardError
from inspection.strict import StrictModel


class Roi(StrictModel):
    """Region of interest as fractions of the frame, so the card holds for any resolution."""

    x: float = Field(ge=0.0, lt=1.0, description="left edge, fraction of frame width")
    y: float = Field(ge=0.0, lt=1.0, description="top edge, fraction of frame height")
    width: float = Field(gt=0.0, le=1.0, description="fraction of frame width")
    height: float = Field(gt=0.0, le=1.0, description="fraction of frame height")

    @model_validator(mode="after")
    def _inside_frame(self) -> Roi:
        if self.x + self.width > 1.0 + 1e-9 or self.y + self.height > 1.0 + 1e-9:
            raise ValueError("ROI extends past the frame (x + width and y + height must be <= 1)")
        return self


class InputSpec(StrictModel):
    name: str = Field(description="ONNX input tensor name")
    shape: tuple[int, int, int, int] = Field(description="static input shape, batch first")
    layout: Literal["NCHW", "NHWC"] = Field(description="tensor layout")
    colour: Literal["gray", "rgb", "bgr"] = Field(description="channel order the model was trained on")
    dtype: Literal["float32"] = Field(default="float32", description="input element type")
    roi: Roi | None = Field(default=None, description="crop applied before resizing; None = whole frame")
    interpolation: Literal["area", "linear"] = Field(default="area", description="resize filter")
    scale: float = Field(default=1.0 / 255.0, gt=0.0, description="multiplier taking 8-bit levels to 0..1")
    mean: tuple[float, ...] = Field(description="per-channel mean subtracted after scaling")
    std: tuple[float, ...] = Field(description="per-channel std divided after subtracting the mean")

    @property
    def channels(self) -> int:
        return self.shape[1] if self.layout == "NCHW" else self.shape[3]

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the model input."""
        return (self.shape[2], self.shape[3]) if self.layout == "NCHW" else (self.shape[1], self.shape[2])

    @model_validator(mode="after")
    def _channels_agree(self) -> InputSpec:
        want = 1 if self.colour == "gray" else 3
        if self.channels != want:
            raise ValueError(f"colour {self.colour!r} needs {want} channel(s), shape has {self.channels}")
        if len(self.mean) != want or len(self.std) != want:
            raise ValueError(f"mean and std need {want} value(s) each for colour {self.colour!r}")
        if any(s <= 0 for s in self.std):
            raise ValueError("std values must be > 0")
        return self


class SegmentationOutput(StrictModel):
    """A per-pixel defect probability map, with an optional image score (else the map's max)."""

    kind: Literal["segmentation"] = "segmentation"
    map: str = Field(description="output name of the probability map, values 0..1")
    score: str | None = Field(default=None, description="output name of the image score, 0..1")


class AnomalyOutput(StrictModel):
    """anomalib's export convention: `anomaly_map` and `pred_score`, normalised by a stated range."""

    kind: Literal["anomaly"] = "anomaly"
    map: str = Field(default="anomaly_map", description="output name of the anomaly map")
    score: str = Field(default="pred_score", description="output name of the image score")
    score_range: tuple[float, float] = Field(default=(0.0, 1.0), description="raw scores mapped to 0..1")


class ClassifierOutput(StrictModel):
    """Image-level logits or probabilities; no heatmap."""

    kind: Literal["classifier"] = "classifier"
    logits: str = Field(description="output name of the class scores, shape (1, classes)")
    defect_class: int = Field(ge=0, description="index of the defect class")
    activation: Literal["softmax", "sigmoid", "none"] = Field(description="applied to get probabilities")


OutputSpec = Annotated[SegmentationOutput | AnomalyOutput | ClassifierOutput, Field(discriminator="kind")]


class Thresholds(StrictModel):
    """Pass below `pass_below`, reject at or above `reject_above`, uncertain in between."""

    version: str = Field(description="identifies this pair in every decision record")
    pass_below: float = Field(ge=0.0, le=1.0, description="scores below this pass")
    reject_above: float = Field(ge=0.0, le=1.0, description="scores at or above this are rejected")
    region_threshold: float = Field(default=0.5, gt=0.0, lt=1.0, description="map value that marks a defect pixel")
    min_region_px: int = Field(default=4, ge=1, description="smaller connected regions are ignored")

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if self.pass_below > self.reject_above:
            raise ValueError(f"pass_below ({self.pass_below}) must be <= reject_above ({self.reject_above})")
        return self


class GoldenSample(StrictModel):
    image: str = Field(description="image path relative to the card")
    expected_score: float = Field(ge=0.0, le=1.0, description="score measured when the model was released")
    label: Literal["good", "defect"] = Field(description="ground truth of the image")


class ModelCard(StrictModel):
    name: str = Field(description="model name")
    version: str = Field(description="model version")
    description: str = Field(description="what the model inspects")
    file: str = Field(description="ONNX file name, relative to the card")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the ONNX file; the model id")
    input: InputSpec
    output: OutputSpec
    thresholds: Thresholds
    golden: tuple[GoldenSample, ...] = Field(default=(), description="reference images with expected scores")
    golden_tolerance: float = Field(default=0.02, gt=0.0, description="allowed |score - expected|")
    training: dict[str, object] = Field(default_factory=dict, description="recipe, seeds, data, duration")
    metrics: dict[str, object] = Field(default_factory=dict, description="measured quality at release")


def card_path_for(model_path: Path) -> Path:
    return model_path.with_name(model_path.stem + ".card.json")


def load_card(path: Path) -> ModelCard:
    """Reads and validates a card, naming each missing or invalid field."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CardError(f"model card {path} not found: every model needs a card beside it") from None
    except json.JSONDecodeError as exc:
        raise CardError(f"model card {path} is not valid JSON: {exc}") from None
    try:
        return ModelCard.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors())
        raise CardError(f"model card {path} is invalid: {problems}") from None


def save_card(card: ModelCard, path: Path) -> None:
    path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
