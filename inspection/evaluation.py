"""Image- and pixel-level quality of a model at its thresholds, on labelled images."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from camera.sim import render_part
from inspection.errors import ImageError
from inspection.images import iter_image_files, read_image
from inspection.inspector import Inspector
from inspection.labels import label_of, mask_path
from inspection.metrics import auroc, iou, share
from inspection.preprocess import roi_box
from inspection.progress import progress


@dataclass(frozen=True)
class Sample:
    name: str
    image: np.ndarray
    defective: bool
    mask: np.ndarray | None = None  # uint8, non-zero on defect pixels, frame-sized
    kinds: tuple[str, ...] = ()


@dataclass
class EvalReport:
    n_good: int = 0
    n_defect: int = 0
    auroc: float = float("nan")
    escape_rate: float = float("nan")  # defective parts passed
    false_reject_rate: float = float("nan")  # good parts rejected
    uncertain_share: float = float("nan")
    failsafe: int = 0
    pixel_iou: float = float("nan")  # pooled over defect images with masks
    detection_by_kind: dict[str, float] = field(default_factory=dict)  # share not passed
    escapes: list[str] = field(default_factory=list)
    false_rejects: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float | int]:
        return {
            "images": self.n_good + self.n_defect,
            "good": self.n_good,
            "defect": self.n_defect,
            "auroc": round(self.auroc, 5),
            "escape_rate": round(self.escape_rate, 5),
            "false_reject_rate": round(self.false_reject_rate, 5),
            "uncertain_share": round(self.uncertain_share, 5),
            "failsafe": self.failsafe,
            "pixel_iou": round(self.pixel_iou, 4),
        }


def samples_from_folder(folder: Path) -> Iterator[Sample]:
    """Labelled images below `folder` (good/ok/pass vs defect/ng/bad/reject); unlabelled ones are skipped."""
    for path in iter_image_files(folder):
        defective = label_of(path, folder)
        if defective is None:
            continue
        try:
            image = read_image(path)
        except ImageError:
            continue  # evaluation measures the model; replay is where broken files are reported
        m = mask_path(path)
        mask = read_image(m) if defective and m.is_file() else None
        yield Sample(str(path.relative_to(folder)), image, defective, mask)


def mask_at_model_resolution(mask: np.ndarray, shape: tuple[int, int], inspector: Inspector) -> np.ndarray:
    spec = inspector.runtime.card.input
    x, y, w, h = roi_box(spec.roi, mask.shape[0], mask.shape[1])
    crop = (mask[y : y + h, x : x + w] > 0).astype(np.float32)
    return cv2.resize(crop, (shape[1], shape[0]), interpolation=cv2.INTER_AREA) >= 0.5


def evaluate(
    inspector: Inspector, samples: Iterable[Sample], total: int | None = None, quiet: bool = False
) -> EvalReport:
    scores: list[float] = []
    labels: list[bool] = []
    verdicts: list[str] = []
    names: list[str] = []
    inter = union = 0
    kind_seen: Counter[str] = Counter()
    kind_caught: Counter[str] = Counter()
    with progress("evaluate", total or 0, quiet or total is None) as advance:
        for sample in samples:
            result = inspector.inspect(sample.image, sample.name)
            d = result.decision
            scores.append(d.score if d.score is not None else 1.0)
            labels.append(sample.defective)
            verdicts.append(d.verdict)
            names.append(sample.name)
            for kind in sample.kinds:
                kind_seen[kind] += 1
                kind_caught[kind] += d.verdict != "pass"
            heatmap = result.output.heatmap if result.output else None
            if sample.mask is not None and heatmap is not None:
                truth = mask_at_model_resolution(sample.mask, heatmap.shape, inspector)
                i, u = iou(heatmap >= inspector.thresholds.region_threshold, truth)
                inter, union = inter + i, union + u
            advance()
    y = np.array(labels, dtype=bool)
    v = np.array(verdicts)
    return EvalReport(
        n_good=int((~y).sum()),
        n_defect=int(y.sum()),
        auroc=auroc(np.array(scores), y),
        escape_rate=share(v == "pass", y),
        false_reject_rate=share(v == "reject", ~y),
        uncertain_share=float(np.mean(v == "uncertain")) if len(v) else float("nan"),
        failsafe=int(np.sum(v == "failsafe")),
        pixel_iou=inter / union if union else float("nan"),
        detection_by_kind={k: kind_caught[k] / n for k, n in sorted(kind_seen.items())},
        escapes=[n for n, lab, ver in zip(names, labels, verdicts, strict=True) if lab and ver == "pass"],
        false_rejects=[n for n, lab, ver in zip(names, labels, verdicts, strict=True) if not lab and ver == "reject"],
    )


def rendered_samples(
    seeds: Iterable[int], kinds: tuple[str, ...] | None = None, defective: bool | None = None
) -> Iterator[Sample]:
    """Fresh parts from the renderer, with their masks and defect kinds."""
    for seed in seeds:
        part = render_part(seed, defective=defective, kinds=kinds)
        yield Sample(f"seed-{seed}", part.image, part.is_defective, part.mask, part.defects)
