"""report.html: one self-contained page (plots and gallery embedded) people want to read."""

from __future__ import annotations

import base64
import hashlib
import json
import math
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape

from inspection.config import StationConfig
from inspection.errors import ImageError
from inspection.images import decode_image
from inspection.inspector import Inspector
from inspection.model_card import ModelCard, Thresholds
from inspection.overlay import overlay
from inspection.replay import plots
from inspection.replay.run import RunStats
from inspection.replay.summary import VERDICTS, ModelStats, Summary

RATE_NAMES = (
    ("escape_rate", "escape rate (defects passed)"),
    ("false_reject_rate", "false-reject rate (good rejected)"),
    ("review_rate", "review rate (uncertain)"),
    ("auroc", "image AUROC"),
)
GALLERY_TITLES = (
    ("misclassified", "Misclassified"),
    ("reject", "Rejected"),
    ("uncertain", "Uncertain (to review)"),
    ("failsafe", "Fail-safe"),
)

_env = Environment(loader=PackageLoader("inspection.replay", "templates"), autoescape=select_autoescape())


def fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.4f}"


def _arrays(stats: ModelStats) -> tuple[np.ndarray, np.ndarray]:
    return np.array(stats.scores, dtype=np.float64), np.array(stats.labels, dtype=bool)


def gallery_pictures(root: Path, summary: Summary, inspector: Inspector) -> dict[str, str]:
    """Overlays for the rows the report shows, drawn now rather than for every file in the run.

    A file whose content changed since it was decided gets no picture rather than a wrong one.
    """
    uris = {}
    for rows in summary.gallery.values():
        for row in rows:
            try:
                data = (root / row.path).read_bytes()
                if hashlib.sha256(data).hexdigest() != row.sha256:
                    continue
                image = decode_image(data, root / row.path)
            except (OSError, ImageError):
                continue
            result = inspector.inspect(image, row.path)
            heatmap = result.output.heatmap if result.output else None
            picture = overlay(result.image, result.decision, heatmap, inspector.runtime.preprocess.spec.roi)
            ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                uris[row.path] = "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")
    return uris


def write_report(
    out: Path,
    *,
    folder: Path,
    summary: Summary,
    run: RunStats | None,
    card: ModelCard,
    thresholds: Thresholds,
    config: StationConfig,
    inspector: Inspector,
    challenger_card: ModelCard | None = None,
) -> Path:
    figures: dict[str, str] = {}
    if summary.latencies_ms:
        figures["latency"] = plots.latency_histogram(summary.latencies_ms)
    if summary.labelled:
        models = [_arrays(summary.primary)]
        if summary.challenger:
            models.append(_arrays(summary.challenger))
        figures["curves"] = plots.curves(models)
        figures["sweep"] = plots.threshold_sweep(*models[0], thresholds)
    html = _env.get_template("report.html.j2").render(
        folder=str(folder),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        s=summary,
        run=run,
        card=card,
        challenger_card=challenger_card,
        thresholds=thresholds,
        calibration_id=inspector.calibration.id,
        verdicts=VERDICTS,
        rate_names=RATE_NAMES,
        rates=summary.primary.rates(),
        challenger_rates=summary.challenger.rates() if summary.challenger else None,
        gallery_titles=GALLERY_TITLES,
        plots=figures,
        pictures=gallery_pictures(folder, summary, inspector),
        fmt=fmt,
        card_json=json.dumps(card.model_dump(mode="json"), indent=2),
        challenger_card_json=json.dumps(challenger_card.model_dump(mode="json"), indent=2) if challenger_card else "",
        config_json=json.dumps(config.model_dump(mode="json"), indent=2),
    )
    tmp = out / "report.html.tmp"
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out / "report.html")
    return out / "report.html"
