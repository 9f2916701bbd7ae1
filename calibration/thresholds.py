"""Choosing the pass and reject thresholds for target error rates, with honest bootstrap intervals.

The station decides on a score s in 0..1: pass if s < pass_below, reject if s >= reject_above,
review in between. Two errors follow, each bounded by ONE threshold:

- escape: a defective part passes, P(s < pass_below | defect). The lower threshold sets it, so
  `--escape-rate` chooses `pass_below`.
- false reject: a good part is rejected without a human, P(s >= reject_above | good). The upper
  threshold sets it, so `--false-reject-rate` chooses `reject_above`.

Tie rule (thresholds on a 10^-decimals grid, ties never split): with k = floor(target * n_defect)
allowed escapes, `pass_below` is the largest grid value with at most k defect scores below it, i.e.
the (k+1)-th smallest defect score rounded down. With m = floor(target * n_good) allowed false
rejects, `reject_above` is the smallest grid value with at most m good scores at or above it, i.e.
just above the (m+1)-th largest good score. Discreteness: with n defects the smallest measurable
escape rate is 1/n; below n = 1/target no escape at all is allowed and the rate cannot be checked,
so `required_counts` refuses such folders. If the thresholds cross (pass_below > reject_above), the
classes separate at these targets: both are set to the lower one, `reject_above`, which keeps the
escape rate at or below its target with margin and leaves no review band.

Intervals are about NEW parts: each stratified bootstrap resample re-chooses the thresholds and
measures the rates on the out-of-bag parts (the ~37% of each class it did not draw), so they hold
both the thresholds' own sampling error and the counting noise of a fresh folder (of about a third
of this folder's size, so they are conservative for larger ones). The percentile bootstrap cannot
see beyond the folder (0 escapes in 150 would read as "certainly 0"), so each interval is widened to
contain the Wilson score interval of the folder's own count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import Field

from calibration.record import CalibrationError, CalibrationRecord
from inspection.model_card import Thresholds
from inspection.strict import StrictModel

METHOD = "stratified bootstrap; thresholds re-chosen per resample, rates on out-of-bag parts; Wilson-widened"
_CELLS_PER_CHUNK = 4_000_000  # bounds the (resamples x parts) working arrays to tens of MB


@dataclass(frozen=True)
class Choice:
    pass_below: float
    reject_above: float
    crossed: bool  # the targets left no review band; both thresholds are the false-reject one
    false_reject_met: bool  # False when too many good parts score 1.0 for any threshold to spare them


@dataclass(frozen=True)
class Rates:
    escape: float  # defective parts passed / defective parts
    false_reject: float  # good parts rejected / good parts
    review: float  # parts between the thresholds / all parts, in the folder's good:defect mix
    review_good: float
    review_defect: float


RATE_NAMES = tuple(f.name for f in fields(Rates))


def _allowed(target: float, n: int) -> int:
    return math.floor(target * n + 1e-9)


def required_counts(escape_rate: float, false_reject_rate: float) -> tuple[int, int]:
    """(good, defect) parts needed so that one error of each kind is within target."""
    return math.ceil(1.0 / false_reject_rate - 1e-9), math.ceil(1.0 / escape_rate - 1e-9)


def check_counts(n_good: int, n_defect: int, escape_rate: float, false_reject_rate: float) -> None:
    need_good, need_defect = required_counts(escape_rate, false_reject_rate)
    if n_defect < need_defect:
        raise CalibrationError(
            f"{n_defect} defective images are too few for an escape rate of {escape_rate:g}: it needs at least "
            f"{need_defect} (with n defective images the smallest measurable escape rate is 1/n)"
        )
    if n_good < need_good:
        raise CalibrationError(
            f"{n_good} good images are too few for a false-reject rate of {false_reject_rate:g}: it needs at least "
            f"{need_good} (with n good images the smallest measurable false-reject rate is 1/n)"
        )


def split_scores(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(good scores, defect scores), after checking that both classes are there and scores are in 0..1."""
    s, y = np.asarray(scores, dtype=np.float64), np.asarray(labels)
    if s.ndim != 1 or y.shape != s.shape:
        raise ValueError(f"expected scores and labels of the same (N,) shape, got {s.shape} and {y.shape}")
    if not np.all((s >= 0.0) & (s <= 1.0)):  # also catches NaN
        raise ValueError("scores must be finite and within 0..1")
    y = y.astype(bool)
    good, defect = s[~y], s[y]
    if len(good) == 0 or len(defect) == 0:
        raise CalibrationError(
            f"calibration needs both good and defective images; got {len(good)} good and {len(defect)} defective"
        )
    return good, defect


def _round_down(x: np.ndarray, decimals: int) -> np.ndarray:
    c = np.round(x, decimals)
    c = np.where(c > x, np.round(c - 10.0**-decimals, decimals), c)
    return np.where(c > x, x, c)


def _round_up_strictly(x: np.ndarray, decimals: int) -> np.ndarray:
    c = np.round(x, decimals)
    c = np.where(c <= x, np.round(c + 10.0**-decimals, decimals), c)
    return np.minimum(np.where(c <= x, np.nextafter(x, 2.0), c), 1.0)


def _choose_sorted(
    good: np.ndarray, defect: np.ndarray, escape_rate: float, false_reject_rate: float, decimals: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The tie rule on (B, n) arrays sorted along axis 1: (pass_below, reject_above, crossed, fr_met)."""
    batch, n_good, n_defect = good.shape[0], good.shape[1], defect.shape[1]
    k, m = _allowed(escape_rate, n_defect), _allowed(false_reject_rate, n_good)
    pass_below = _round_down(defect[:, k], decimals) if k < n_defect else np.ones(batch)
    if m < n_good:
        edge = good[:, n_good - 1 - m]
        reject_above = _round_up_strictly(edge, decimals)
        fr_met = reject_above > edge
    else:
        reject_above, fr_met = np.zeros(batch), np.ones(batch, dtype=bool)
    crossed = pass_below > reject_above
    return np.minimum(pass_below, reject_above), reject_above, crossed, fr_met


def choose_thresholds(
    scores: np.ndarray, labels: np.ndarray, escape_rate: float, false_reject_rate: float, decimals: int = 4
) -> Choice:
    """The thresholds meeting both targets on these scores (see the module docstring for the rule)."""
    good, defect = split_scores(scores, labels)
    pb, ra, crossed, fr_met = _choose_sorted(
        np.sort(good)[None, :], np.sort(defect)[None, :], escape_rate, false_reject_rate, decimals
    )
    return Choice(float(pb[0]), float(ra[0]), bool(crossed[0]), bool(fr_met[0]))


def _shares(
    values: np.ndarray, weights: np.ndarray, pass_below: np.ndarray, reject_above: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(passed, review, rejected) shares of the weighted `values`, one per threshold pair; NaN if no weight."""
    total = np.count_nonzero(weights, axis=1).astype(np.float64)
    passed = np.count_nonzero(weights & (values[None, :] < pass_below[:, None]), axis=1)
    rejected = np.count_nonzero(weights & (values[None, :] >= reject_above[:, None]), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return passed / total, (total - passed - rejected) / total, rejected / total


def _rates(
    good: np.ndarray, defect: np.ndarray, *, weights: tuple[np.ndarray, np.ndarray], pb: np.ndarray, ra: np.ndarray
) -> dict[str, np.ndarray]:
    _, g_review, g_reject = _shares(good, weights[0], pb, ra)
    d_pass, d_review, _ = _shares(defect, weights[1], pb, ra)
    mix = len(good) / (len(good) + len(defect))
    review = mix * g_review + (1.0 - mix) * d_review
    return dict(zip(RATE_NAMES, (d_pass, g_reject, review, g_review, d_review), strict=True))


def rates_at(scores: np.ndarray, labels: np.ndarray, pass_below: float, reject_above: float) -> Rates:
    """Escape, false-reject and review rates of these scores at fixed thresholds."""
    good, defect = split_scores(scores, labels)
    ones_g, ones_d = np.ones((1, len(good)), dtype=bool), np.ones((1, len(defect)), dtype=bool)
    r = _rates(good, defect, weights=(ones_g, ones_d), pb=np.array([pass_below]), ra=np.array([reject_above]))
    return Rates(**{name: float(v[0]) for name, v in r.items()})


def _out_of_bag(draws: np.ndarray, n: int) -> np.ndarray:
    in_bag = np.zeros((draws.shape[0], n), dtype=bool)
    in_bag[np.arange(draws.shape[0])[:, None], draws] = True
    return ~in_bag


def bootstrap_rates(
    scores: np.ndarray,
    labels: np.ndarray,
    escape_rate: float,
    false_reject_rate: float,
    *,
    rng: np.random.Generator,
    resamples: int = 2000,
    decimals: int = 4,
) -> dict[str, np.ndarray]:
    """Out-of-bag rates of the whole procedure, one per resample (NaN where a class had no out-of-bag part)."""
    good, defect = split_scores(scores, labels)
    n_g, n_d = len(good), len(defect)
    chunk = max(1, _CELLS_PER_CHUNK // max(n_g, n_d))
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, resamples, chunk):
        b = min(chunk, resamples - start)
        g_draw, d_draw = rng.integers(0, n_g, (b, n_g)), rng.integers(0, n_d, (b, n_d))
        pb, ra, _, _ = _choose_sorted(
            np.sort(good[g_draw], axis=1), np.sort(defect[d_draw], axis=1), escape_rate, false_reject_rate, decimals
        )
        oob = (_out_of_bag(g_draw, n_g), _out_of_bag(d_draw, n_d))
        parts.append(_rates(good, defect, weights=oob, pb=pb, ra=ra))
    return {name: np.concatenate([p[name] for p in parts]) for name in RATE_NAMES}


def wilson_interval(count: int, n: int, confidence: float) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion: sensible at 0 and n, where the bootstrap collapses."""
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    p = count / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class RateEstimate(StrictModel):
    value: float = Field(ge=0.0, le=1.0, description="on the calibration folder, at the chosen thresholds")
    expected: float = Field(ge=0.0, le=1.0, description="mean out-of-bag rate: what new parts should see")
    low: float = Field(ge=0.0, le=1.0, description="lower end of the interval for new parts")
    high: float = Field(ge=0.0, le=1.0, description="upper end of the interval for new parts")


class ThresholdRates(StrictModel):
    escape: RateEstimate = Field(description="defective parts passed, share of defective parts")
    false_reject: RateEstimate = Field(description="good parts rejected automatically, share of good parts")
    review: RateEstimate = Field(description="parts sent to review, share of all parts in the folder's mix")
    review_good: RateEstimate = Field(description="good parts sent to review, share of good parts")
    review_defect: RateEstimate = Field(description="defective parts sent to review, share of defective parts")


def estimate_rates(
    scores: np.ndarray,
    labels: np.ndarray,
    choice: Choice,
    boot: dict[str, np.ndarray],
    confidence: float = 0.95,
) -> ThresholdRates:
    """Folder rates at the chosen thresholds, with percentile intervals of the bootstrap, Wilson-widened."""
    good, defect = split_scores(scores, labels)
    observed = rates_at(scores, labels, choice.pass_below, choice.reject_above)
    sizes = {"escape": len(defect), "review_defect": len(defect), "review": len(good) + len(defect)}
    tail = (1.0 - confidence) / 2.0
    out: dict[str, RateEstimate] = {}
    for name in RATE_NAMES:
        value, draws = getattr(observed, name), boot[name][np.isfinite(boot[name])]
        n = sizes.get(name, len(good))
        w_low, w_high = wilson_interval(round(value * n), n, confidence)
        low, high = np.quantile(draws, [tail, 1.0 - tail]) if len(draws) else (w_low, w_high)
        expected = float(np.mean(draws)) if len(draws) else value
        out[name] = RateEstimate(
            value=value, expected=expected, low=min(float(low), w_low), high=max(float(high), w_high)
        )
    return ThresholdRates(**out)


class Counts(StrictModel):
    good: int = Field(ge=0, description="good images scored")
    defect: int = Field(ge=0, description="defective images scored")
    failsafe: int = Field(ge=0, description="images the model could not vouch for (fail-safe decisions), not used")
    skipped: int = Field(ge=0, description="unreadable or unlabelled files, not used")


class ThresholdsCalibration(CalibrationRecord):
    """A calibrated threshold pair for one model, with the evidence that it meets its targets."""

    kind: Literal["thresholds"] = "thresholds"
    model_id: str = Field(pattern=r"^[0-9a-f]{64}$", description="sha256 of the ONNX file the thresholds belong to")
    model_name: str = Field(description="model name from its card")
    pass_below: float = Field(ge=0.0, le=1.0, description="scores below this pass; bounds the escape rate")
    reject_above: float = Field(ge=0.0, le=1.0, description="scores at or above this reject; bounds false rejects")
    region_threshold: float = Field(gt=0.0, lt=1.0, description="map value of a defect pixel, carried over")
    min_region_px: int = Field(ge=1, description="smallest reported region, carried over")
    escape_rate_target: float = Field(gt=0.0, lt=1.0, description="wanted share of defective parts passed")
    false_reject_rate_target: float = Field(gt=0.0, lt=1.0, description="wanted share of good parts rejected")
    crossed: bool = Field(description="the targets left no review band: both thresholds are reject_above")
    false_reject_target_met: bool = Field(description="False when good parts score so high no threshold spares them")
    rates: ThresholdRates = Field(description="achieved rates with intervals for new parts")
    counts: Counts = Field(description="images behind the calibration")
    confidence: float = Field(gt=0.0, lt=1.0, description="level of the intervals")
    resamples: int = Field(ge=1, description="bootstrap resamples")
    seed: int = Field(description="seed of the bootstrap, to reproduce the intervals")
    method: str = Field(default=METHOD, description="how the intervals were computed")
    source_folder: str = Field(description="labelled folder the thresholds were calibrated on")

    def to_thresholds(self) -> Thresholds:
        """The station's thresholds, versioned by this file's id (the id saving would give, if not saved yet)."""
        return Thresholds(
            version=self.id or self.stamped().id,
            pass_below=self.pass_below,
            reject_above=self.reject_above,
            region_threshold=self.region_threshold,
            min_region_px=self.min_region_px,
        )
