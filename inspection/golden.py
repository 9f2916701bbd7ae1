"""Golden parity: a model must score its reference images as it did when it was released.

This catches the classic failure where an exported or re-deployed model scores differently
from the one that was validated (a different opset, preprocessing or runtime).
"""

from __future__ import annotations

from dataclasses import dataclass

from inspection.errors import GoldenDriftError, ImageError
from inspection.images import read_image
from inspection.outputs import interpret
from inspection.preprocess import Preprocessor
from inspection.runtime import ModelRuntime


@dataclass(frozen=True)
class GoldenResult:
    image: str
    label: str
    expected: float
    actual: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return abs(self.actual - self.expected) <= self.tolerance

    def __str__(self) -> str:
        return (
            f"{self.image} ({self.label}): expected {self.expected:.4f}, got {self.actual:.4f}, "
            f"drift {abs(self.actual - self.expected):.4f} (tolerance {self.tolerance})"
        )


def score_golden(runtime: ModelRuntime) -> list[GoldenResult]:
    """Scores each golden image with the card's own preprocessing (never a site ROI override)."""
    card = runtime.card
    preprocess = Preprocessor(card.input)
    results = []
    for sample in card.golden:
        path = runtime.card_dir / sample.image
        try:
            image = read_image(path)
        except ImageError as exc:
            raise GoldenDriftError(f"golden image of model {card.name}: {exc}") from None
        score = interpret(runtime.infer(preprocess(image)), card.output).score
        results.append(GoldenResult(sample.image, sample.label, sample.expected_score, score, card.golden_tolerance))
    return results


def require_golden(runtime: ModelRuntime) -> list[GoldenResult]:
    """Raises naming every golden image out of tolerance; a card without golden images is refused."""
    if not runtime.card.golden:
        raise GoldenDriftError(
            f"model card of {runtime.card.name} lists no golden images; production use needs them "
            "(add reference images with expected scores, or set model.verify_golden = false for experiments)"
        )
    results = score_golden(runtime)
    bad = [r for r in results if not r.ok]
    if bad:
        raise GoldenDriftError(
            f"model {runtime.path} scores {len(bad)} of {len(results)} golden images out of tolerance: "
            + "; ".join(str(r) for r in bad)
        )
    return results
