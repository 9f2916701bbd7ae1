"""The model runtime: output conventions, contract checks against the card, and bad files."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from inspection.errors import CardError, GoldenDriftError, ModelLoadError
from inspection.golden import require_golden
from inspection.inspector import Inspector
from inspection.model_card import (
    AnomalyOutput,
    ClassifierOutput,
    GoldenSample,
    InputSpec,
    SegmentationOutput,
    card_path_for,
)
from inspection.runtime import ModelRuntime
from tests.onnx_builders import (
    anomaly_model,
    classifier_model,
    segmentation_model,
    sigmoid,
    tensor_value,
    write_card,
)


def grey(level: int, size: int = 32) -> np.ndarray:
    return np.full((size, size), level, dtype=np.uint8)


def test_segmentation_convention_scores_the_map_maximum(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model)
    runtime = ModelRuntime.load(model)
    out = runtime.run(grey(200))
    assert out.problem is None
    assert out.score == pytest.approx(sigmoid(tensor_value(200)), abs=1e-5)
    assert out.heatmap is not None and out.heatmap.shape == (8, 8)


def test_segmentation_without_score_output_uses_map_max(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model, output=SegmentationOutput(map="defect_map"))
    frame = grey(40)
    frame[:16, :16] = 230  # one bright quadrant drives the maximum
    out = ModelRuntime.load(model).run(frame)
    assert out.score == pytest.approx(sigmoid(tensor_value(230)), abs=1e-5)


def test_anomaly_convention_normalises_by_card_range(tmp_path: Path) -> None:
    model = anomaly_model(tmp_path / "anomaly.onnx")
    write_card(model, output=AnomalyOutput(score_range=(-20.0, 20.0)))
    out = ModelRuntime.load(model).run(grey(255))
    raw = 10 * tensor_value(255)
    assert out.score == pytest.approx((raw + 20.0) / 40.0, abs=1e-5)
    assert out.heatmap is not None and float(out.heatmap.max()) <= 1.0


@pytest.mark.parametrize(
    ("activation", "expected"),
    [
        ("softmax", lambda m: float(np.exp(m) / (np.exp(m) + np.exp(-m)))),
        ("sigmoid", sigmoid),
        ("none", lambda m: m),
    ],
)
def test_classifier_convention_picks_the_defect_class(tmp_path: Path, activation: str, expected: object) -> None:
    model = classifier_model(tmp_path / "cls.onnx")
    write_card(model, output=ClassifierOutput(logits="logits", defect_class=1, activation=activation))
    out = ModelRuntime.load(model).run(grey(160))
    assert callable(expected)
    assert out.score == pytest.approx(expected(tensor_value(160)), abs=1e-5)
    assert out.heatmap is None


def test_truncated_onnx_file_is_refused_with_its_name(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    write_card(model)  # the card matches the damaged bytes, so only onnxruntime can object
    with pytest.raises(ModelLoadError, match=r"seg\.onnx could not be loaded.*truncated"):
        ModelRuntime.load(model)


def test_file_not_matching_card_hash_is_refused(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model, sha256="0" * 64)
    with pytest.raises(ModelLoadError, match="do not belong together"):
        ModelRuntime.load(model)


def test_missing_model_and_missing_card_are_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"nowhere\.onnx not found"):
        ModelRuntime.load(tmp_path / "nowhere.onnx")
    model = segmentation_model(tmp_path / "seg.onnx")
    with pytest.raises(CardError, match=r"seg\.card\.json not found"):
        ModelRuntime.load(model)


@pytest.mark.parametrize("field", ["input", "thresholds", "sha256", "output"])
def test_card_with_a_missing_field_names_it(tmp_path: Path, field: str) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model)
    path = card_path_for(model)
    raw = json.loads(path.read_text())
    del raw[field]
    path.write_text(json.dumps(raw))
    with pytest.raises(CardError, match=rf"{field}: Field required"):
        ModelRuntime.load(model)


def test_card_that_is_not_json_is_refused(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    card_path_for(model).write_text("{ not json")
    with pytest.raises(CardError, match="not valid JSON"):
        ModelRuntime.load(model)


def test_every_mismatch_between_model_and_card_is_listed(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    wrong_input = InputSpec(name="pixels", shape=(1, 1, 16, 16), layout="NCHW", colour="gray", mean=(0.5,), std=(0.25,))
    write_card(model, input=wrong_input, output=SegmentationOutput(map="heat", score="score"))
    with pytest.raises(ModelLoadError) as caught:
        ModelRuntime.load(model)
    message = str(caught.value)
    assert "input name is 'image', card says 'pixels'" in message
    assert "input axis 2 is 8, card says 16" in message
    assert "input axis 3 is 8, card says 16" in message
    assert "output 'heat' named by the card is missing" in message


def test_classifier_defect_class_out_of_range_is_refused(tmp_path: Path) -> None:
    model = classifier_model(tmp_path / "cls.onnx")
    write_card(model, output=ClassifierOutput(logits="logits", defect_class=5, activation="softmax"))
    with pytest.raises(ModelLoadError, match="defect_class 5 is out of range for 2 classes"):
        ModelRuntime.load(model)


def test_map_of_wrong_shape_becomes_failsafe_not_pass(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx", map_channels=2)
    card = write_card(model)
    inspector = Inspector(ModelRuntime.load(model), card.thresholds)
    decision = inspector.inspect(grey(10), "part-1").decision
    assert decision.verdict == "failsafe"
    assert decision.reason == "invalid_output"
    assert "(1, 2, 8, 8)" in decision.detail


def test_nan_model_output_becomes_failsafe(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx", poison=float("nan"))
    card = write_card(model)
    decision = Inspector(ModelRuntime.load(model), card.thresholds).inspect(grey(10), "p").decision
    assert decision.verdict == "failsafe"
    assert decision.reason == "non_finite_score"
    assert decision.score is None


def test_model_exception_becomes_failsafe(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    card = write_card(model)
    runtime = ModelRuntime.load(model)

    def explode(tensor: np.ndarray) -> dict[str, np.ndarray]:
        raise RuntimeError("arena exhausted")

    runtime.infer = explode  # type: ignore[method-assign]
    decision = Inspector(runtime, card.thresholds).inspect(grey(10), "p").decision
    assert (decision.verdict, decision.reason) == ("failsafe", "model_error")
    assert "arena exhausted" in decision.detail


def test_unreadable_frame_becomes_failsafe(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    card = write_card(model)
    decision = Inspector(ModelRuntime.load(model), card.thresholds).inspect(np.zeros((4, 4, 2), np.uint8), "p").decision
    assert (decision.verdict, decision.reason) == ("failsafe", "bad_image")


def _golden_setup(tmp_path: Path, expected: float) -> ModelRuntime:
    model = segmentation_model(tmp_path / "seg.onnx")
    (tmp_path / "golden").mkdir()
    cv2.imwrite(str(tmp_path / "golden" / "ok.png"), grey(128))
    write_card(model, golden=(GoldenSample(image="golden/ok.png", expected_score=expected, label="good"),))
    return ModelRuntime.load(model)


def test_golden_within_tolerance_passes(tmp_path: Path) -> None:
    truth = sigmoid(tensor_value(128))
    results = require_golden(_golden_setup(tmp_path, round(truth, 6)))
    assert [r.ok for r in results] == [True]


def test_golden_drift_names_the_image_and_the_drift(tmp_path: Path) -> None:
    runtime = _golden_setup(tmp_path, 0.9)
    with pytest.raises(GoldenDriftError, match=r"golden/ok\.png \(good\): expected 0\.9000, got 0\.\d+, drift"):
        require_golden(runtime)


def test_card_without_golden_images_is_refused_in_production(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model)
    with pytest.raises(GoldenDriftError, match="lists no golden images"):
        require_golden(ModelRuntime.load(model))


def test_missing_golden_image_is_named(tmp_path: Path) -> None:
    model = segmentation_model(tmp_path / "seg.onnx")
    write_card(model, golden=(GoldenSample(image="golden/gone.png", expected_score=0.5, label="good"),))
    with pytest.raises(GoldenDriftError, match=r"gone\.png"):
        require_golden(ModelRuntime.load(model))
