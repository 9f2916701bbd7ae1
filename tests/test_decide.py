"""The decision function and the output conventions that feed it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from inspection.decide import Judgement, decide
from inspection.model_card import AnomalyOutput, ClassifierOutput, SegmentationOutput, Thresholds
from inspection.outputs import ModelOutput, interpret

SETTINGS = settings(max_examples=400, deadline=None, database=None)


@st.composite
def thresholds(draw: st.DrawFn) -> Thresholds:
    a = draw(st.floats(0.0, 1.0) | st.sampled_from([0.0, 0.5, 1.0]))
    b = draw(st.floats(0.0, 1.0) | st.sampled_from([0.0, 0.5, 1.0]))
    lo, hi = min(a, b), max(a, b)
    return Thresholds(version="t", pass_below=lo, reject_above=hi)


SPECIAL_SCORES = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1.0, -1e-9, 1.0 + 1e-9, -3.0, 7.0, 1e300, -1e300]
scores = st.floats(allow_nan=True, allow_infinity=True) | st.floats(0.0, 1.0) | st.sampled_from(SPECIAL_SCORES)

finite_maps = hnp.arrays(
    np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.floats(0.0, 1.0, width=32)
)
any_maps = hnp.arrays(
    np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=st.floats(width=32, allow_nan=True)
)
heatmaps = st.none() | finite_maps | any_maps
problems = st.none() | st.none() | st.text(min_size=1, max_size=20)


def expected_verdict(output: ModelOutput, t: Thresholds) -> str:
    """The specification, written independently of the implementation."""
    s = output.score
    valid = (
        output.problem is None
        and math.isfinite(s)
        and 0.0 <= s <= 1.0
        and (output.heatmap is None or bool(np.all(np.isfinite(output.heatmap))))
    )
    if not valid:
        return "failsafe"
    if s < t.pass_below:
        return "pass"
    if s >= t.reject_above:
        return "reject"
    return "uncertain"


def same_score(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@SETTINGS
@given(score=scores, t=thresholds(), heatmap=heatmaps, problem=problems)
@example(score=math.nan, t=Thresholds(version="t", pass_below=1.0, reject_above=1.0), heatmap=None, problem=None)
@example(score=-math.inf, t=Thresholds(version="t", pass_below=1.0, reject_above=1.0), heatmap=None, problem=None)
@example(score=-0.5, t=Thresholds(version="t", pass_below=1.0, reject_above=1.0), heatmap=None, problem=None)
@example(score=0.0, t=Thresholds(version="t", pass_below=0.0, reject_above=0.0), heatmap=None, problem=None)
@example(score=1.0, t=Thresholds(version="t", pass_below=1.0, reject_above=1.0), heatmap=None, problem=None)
@example(score=0.1, t=Thresholds(version="t", pass_below=0.5, reject_above=0.9), heatmap=None, problem="broken")
@example(
    score=0.1,
    t=Thresholds(version="t", pass_below=0.5, reject_above=0.9),
    heatmap=np.array([[0.0, np.nan]], dtype=np.float32),
    problem=None,
)
def test_decide_matches_the_specification(
    score: float, t: Thresholds, heatmap: np.ndarray | None, problem: str | None
) -> None:
    output = ModelOutput(score, heatmap, problem)
    judgement = decide(output, t)
    assert isinstance(judgement, Judgement)
    assert judgement.verdict == expected_verdict(output, t)
    assert same_score(judgement.score, score)
    assert judgement.reason
    assert judgement.detail


@SETTINGS
@given(score=scores, t=thresholds(), heatmap=heatmaps, problem=problems)
def test_pass_needs_a_trustworthy_low_score(
    score: float, t: Thresholds, heatmap: np.ndarray | None, problem: str | None
) -> None:
    judgement = decide(ModelOutput(score, heatmap, problem), t)
    if judgement.verdict == "pass":
        assert problem is None
        assert math.isfinite(score)
        assert 0.0 <= score < t.pass_below
        assert heatmap is None or np.isfinite(heatmap).all()
    if judgement.verdict == "reject":
        assert t.reject_above <= score <= 1.0
    if judgement.verdict == "uncertain":
        assert t.pass_below <= score < t.reject_above


@SETTINGS
@given(score=st.floats(0.0, 1.0), t=thresholds())
def test_verdicts_are_monotonic_in_the_score(score: float, t: Thresholds) -> None:
    rank = {"pass": 0, "uncertain": 1, "reject": 2}
    here = rank[decide(ModelOutput(score, None), t).verdict]
    for higher in (score, (score + 1.0) / 2, 1.0):
        assert rank[decide(ModelOutput(higher, None), t).verdict] >= here


T = Thresholds(version="t", pass_below=0.3, reject_above=0.7)


@pytest.mark.parametrize(
    ("score", "verdict", "reason"),
    [
        (0.0, "pass", "below_pass_threshold"),
        (0.2999, "pass", "below_pass_threshold"),
        (0.3, "uncertain", "between_thresholds"),
        (0.6999, "uncertain", "between_thresholds"),
        (0.7, "reject", "above_reject_threshold"),
        (1.0, "reject", "above_reject_threshold"),
        (math.nan, "failsafe", "non_finite_score"),
        (math.inf, "failsafe", "non_finite_score"),
        (-math.inf, "failsafe", "non_finite_score"),
        (-0.01, "failsafe", "score_out_of_range"),
        (1.01, "failsafe", "score_out_of_range"),
    ],
)
def test_decide_boundaries_and_reasons(score: float, verdict: str, reason: str) -> None:
    judgement = decide(ModelOutput(score, np.zeros((4, 4), np.float32)), T)
    assert (judgement.verdict, judgement.reason) == (verdict, reason)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_heatmap_is_failsafe(bad: float) -> None:
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[3, 5] = bad
    judgement = decide(ModelOutput(0.05, heatmap), T)  # a score that would otherwise pass
    assert judgement.verdict == "failsafe"
    assert judgement.reason == "non_finite_map"


def test_output_with_a_problem_is_failsafe_with_the_problem_as_detail() -> None:
    judgement = decide(ModelOutput(0.05, np.zeros((4, 4), np.float32), "output 'x' has shape (3,)"), T)
    assert judgement.verdict == "failsafe"
    assert judgement.reason == "invalid_output"
    assert "output 'x' has shape (3,)" in judgement.detail


# --- outputs.interpret -----------------------------------------------------------------------------


def seg_map(h: int = 6, w: int = 5, peak: float = 0.8) -> np.ndarray:
    m = np.linspace(0.0, peak, h * w, dtype=np.float32).reshape(h, w)
    return np.asarray(np.random.default_rng(3).permutation(m.ravel()).reshape(h, w), dtype=np.float32)


@pytest.mark.parametrize("leading", [(1, 1), (1,)])
def test_segmentation_without_score_uses_the_map_max(leading: tuple[int, ...]) -> None:
    m = seg_map(peak=0.62)
    out = interpret({"defect_map": m.reshape(*leading, *m.shape)}, SegmentationOutput(map="defect_map"))
    assert out.problem is None
    assert out.score == pytest.approx(0.62, abs=1e-6)
    assert out.heatmap is not None
    np.testing.assert_array_equal(out.heatmap, m)


def test_segmentation_with_a_score_output_uses_it() -> None:
    m = seg_map(peak=0.9)
    out = interpret(
        {"defect_map": m[None, None], "score": np.array([[0.25]], np.float32)},
        SegmentationOutput(map="defect_map", score="score"),
    )
    assert out.problem is None
    assert out.score == pytest.approx(0.25)
    assert out.heatmap is not None
    assert out.heatmap.shape == m.shape


@pytest.mark.parametrize("shape", [(6, 5), (2, 6, 5), (1, 2, 6, 5), (2, 1, 6, 5), (30,), (1, 1, 1, 6, 5)])
def test_segmentation_map_of_the_wrong_shape_is_a_problem(shape: tuple[int, ...]) -> None:
    raw = {"defect_map": np.zeros(shape, np.float32)}
    out = interpret(raw, SegmentationOutput(map="defect_map"))
    assert out.problem is not None
    assert "'defect_map'" in out.problem
    assert str(shape) in out.problem
    assert math.isnan(out.score)
    assert decide(out, T).reason == "invalid_output"


@pytest.mark.parametrize("shape", [(1, 1, 0, 5), (1, 6, 0)])
def test_segmentation_map_with_no_pixels_is_a_problem_not_an_exception(shape: tuple[int, ...]) -> None:
    # A model with dynamic output axes can emit an empty map; the module promises never to raise.
    out = interpret({"defect_map": np.zeros(shape, np.float32)}, SegmentationOutput(map="defect_map"))
    assert out.problem is not None
    assert "'defect_map'" in out.problem
    assert decide(out, T).verdict == "failsafe"


def test_segmentation_score_of_the_wrong_shape_is_a_problem() -> None:
    raw = {"defect_map": seg_map()[None], "score": np.array([[0.1, 0.2]], np.float32)}
    out = interpret(raw, SegmentationOutput(map="defect_map", score="score"))
    assert out.problem is not None
    assert "'score'" in out.problem
    assert "(1, 2)" in out.problem
    assert decide(out, T).verdict == "failsafe"


def test_anomaly_score_and_map_are_normalised_by_the_range() -> None:
    spec = AnomalyOutput(score_range=(-2.0, 6.0))
    raw_map = np.array([[-4.0, -2.0, 2.0], [6.0, 10.0, 4.0]], np.float32)
    out = interpret({"anomaly_map": raw_map[None, None], "pred_score": np.array([2.0], np.float32)}, spec)
    assert out.problem is None
    assert out.score == pytest.approx(0.5)
    assert out.heatmap is not None
    np.testing.assert_allclose(out.heatmap, [[0.0, 0.0, 0.5], [1.0, 1.0, 0.75]], atol=1e-6)


def test_anomaly_defaults_use_anomalib_names() -> None:
    m = seg_map(peak=0.4)
    out = interpret({"anomaly_map": m[None], "pred_score": np.array(0.35, np.float32)}, AnomalyOutput())
    assert out.problem is None
    assert out.score == pytest.approx(0.35)
    assert out.heatmap is not None
    np.testing.assert_allclose(out.heatmap, m, atol=1e-6)


@pytest.mark.parametrize(
    ("map_shape", "score_shape", "name"),
    [((1, 3, 6, 5), (1,), "anomaly_map"), ((6, 5), (1,), "anomaly_map"), ((1, 1, 6, 5), (1, 3), "pred_score")],
)
def test_anomaly_output_of_the_wrong_shape_is_a_problem(
    map_shape: tuple[int, ...], score_shape: tuple[int, ...], name: str
) -> None:
    raw = {"anomaly_map": np.zeros(map_shape, np.float32), "pred_score": np.zeros(score_shape, np.float32)}
    out = interpret(raw, AnomalyOutput())
    assert out.problem is not None
    assert f"'{name}'" in out.problem
    assert decide(out, T).verdict == "failsafe"


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum())


@pytest.mark.parametrize("defect_class", [0, 1, 2])
def test_classifier_softmax_picks_the_defect_class(defect_class: int) -> None:
    logits = np.array([[0.5, 2.0, -1.0]], np.float32)
    spec = ClassifierOutput(logits="logits", defect_class=defect_class, activation="softmax")
    out = interpret({"logits": logits}, spec)
    assert out.problem is None
    assert out.heatmap is None
    assert out.score == pytest.approx(float(softmax(logits[0].astype(np.float64))[defect_class]), rel=1e-6)


def test_classifier_softmax_is_stable_for_large_logits() -> None:
    spec = ClassifierOutput(logits="logits", defect_class=1, activation="softmax")
    out = interpret({"logits": np.array([[1000.0, 1001.0]], np.float32)}, spec)
    assert out.score == pytest.approx(1 / (1 + math.exp(-1.0)), rel=1e-6)


@pytest.mark.parametrize("logit", [-3.0, 0.0, 0.7, 4.0])
def test_classifier_sigmoid(logit: float) -> None:
    spec = ClassifierOutput(logits="logits", defect_class=0, activation="sigmoid")
    out = interpret({"logits": np.array([[logit]], np.float32)}, spec)
    assert out.problem is None
    assert out.score == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-6)


def test_classifier_without_activation_takes_the_value_as_is() -> None:
    spec = ClassifierOutput(logits="probs", defect_class=1, activation="none")
    out = interpret({"probs": np.array([[0.9, 0.1]], np.float32)}, spec)
    assert out.problem is None
    assert out.score == pytest.approx(0.1)
    assert decide(out, T).verdict == "pass"


@pytest.mark.parametrize("shape", [(2,), (2, 2), (1, 2, 1), (1, 1)])
def test_classifier_logits_of_the_wrong_shape_are_a_problem(shape: tuple[int, ...]) -> None:
    spec = ClassifierOutput(logits="class_scores", defect_class=1, activation="softmax")
    out = interpret({"class_scores": np.zeros(shape, np.float32)}, spec)  # (1, 1) has no class 1
    assert out.problem is not None
    assert "'class_scores'" in out.problem
    assert str(shape) in out.problem
    assert math.isnan(out.score)
    assert decide(out, T).reason == "invalid_output"


@SETTINGS
@given(
    shape=st.lists(st.integers(0, 4), min_size=0, max_size=5).map(tuple),
    spec=st.sampled_from(
        [
            SegmentationOutput(map="m"),
            SegmentationOutput(map="m", score="s"),
            AnomalyOutput(map="m", score="s"),
            ClassifierOutput(logits="m", defect_class=1, activation="sigmoid"),
        ]
    ),
)
def test_interpret_never_raises_on_any_shape(shape: tuple[int, ...], spec: object) -> None:
    assert isinstance(spec, SegmentationOutput | AnomalyOutput | ClassifierOutput)
    raw = {"m": np.full(shape, 0.5, np.float32), "s": np.full(shape, 0.5, np.float32)}
    out = interpret(raw, spec)
    assert isinstance(out, ModelOutput)
    if out.problem is None:
        assert decide(out, T).verdict in {"uncertain", "pass", "reject"}
    else:
        assert decide(out, T).verdict == "failsafe"
