"""Human-verified parts as a training set: frames sorted into good/ and defect/ plus labels.csv.

Only parts an inspector decided are exported: their label is the human verdict, which is the point
of reviewing. Reads run on the caller's connection; image files are written after the query.
"""

from __future__ import annotations

import csv
import hashlib
import re
from pathlib import Path

from sqlalchemy import Connection, and_, select

from review_ui.images import ImageFiles
from review_ui.items import items
from review_ui.supervisor.filters import ItemRange, range_conditions
from review_ui.supervisor.schemas import ExportSummary

LABEL_COLUMNS = ("part_id", "label", "inspector", "utc", "model_verdict", "score", "model_id", "image")
UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def file_stem(part_id: str) -> str:
    """Part ids come from stations: anything but [A-Za-z0-9._-] becomes '_' so no id can leave the folder.

    A changed id gets a short hash of the original, so two ids never collapse into one file.
    """
    stem = UNSAFE.sub("_", part_id)
    if stem == part_id and not stem.startswith("."):
        return stem
    return f"_{stem}-{hashlib.sha256(part_id.encode()).hexdigest()[:8]}"


def export_dataset(connection: Connection, images: ImageFiles, out_dir: Path, query: ItemRange) -> ExportSummary:
    rows = connection.execute(
        select(items)
        .where(and_(items.c.human_verdict.is_not(None), *range_conditions(query)))
        .order_by(items.c.captured_utc, items.c.part_id)
    ).mappings()
    for folder in ("good", "defect"):
        (out_dir / folder).mkdir(parents=True, exist_ok=True)
    counts = {"good": 0, "defect": 0, "heatmaps": 0}
    skipped: list[str] = []
    labels_csv = out_dir / "labels.csv"
    with labels_csv.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(LABEL_COLUMNS)
        for row in rows:
            label = "defect" if row["human_verdict"] == "reject" else "good"
            frame = _frame(images, row["frame_sha"])
            if frame is None:
                skipped.append(row["part_id"])
                continue
            image = Path(label) / f"{file_stem(row['part_id'])}.png"
            (out_dir / image).write_bytes(frame)
            counts[label] += 1
            if label == "defect" and (heat := _heatmap(images, row["heatmap_sha"])) is not None:
                (out_dir / image.with_suffix(".heatmap.png")).write_bytes(heat)
                counts["heatmaps"] += 1
            writer.writerow(
                (
                    row["part_id"],
                    label,
                    row["resolved_by"],
                    row["resolved_utc"],
                    row["verdict"],
                    "" if row["score"] is None else row["score"],
                    row["model_id"],
                    image.as_posix(),
                )
            )
    return ExportSummary(
        out_dir=str(out_dir),
        good=counts["good"],
        defect=counts["defect"],
        heatmaps=counts["heatmaps"],
        skipped=skipped,
        labels_csv=str(labels_csv),
    )


def _frame(images: ImageFiles, sha: str | None) -> bytes | None:
    if sha is None:
        return None
    try:
        return images.frame_png(sha)
    except (FileNotFoundError, ValueError):
        return None


def _heatmap(images: ImageFiles, sha: str | None) -> bytes | None:
    if sha is None:
        return None
    try:
        return images.heatmap_png(sha)
    except (FileNotFoundError, ValueError):
        return None
