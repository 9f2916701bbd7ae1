"""Everything the report shows, gathered from the journal's rows in one streaming pass."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from inspection.metrics import auroc
from inspection.replay.rows import ReplayRow

VERDICTS = ("pass", "uncertain", "reject", "failsafe")
GALLERY_LIMIT = 48  # per section; the CSV lists every file
LIST_LIMIT = 500  # failures and disagreements shown in the page; all are counted


@dataclass
class ModelStats:
    """Quality of one model over the labelled rows."""

    scores: list[float] = field(default_factory=list)
    labels: list[bool] = field(default_factory=list)
    verdicts: Counter[str] = field(default_factory=Counter)
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def add(self, label: str | None, verdict: str, score: float | None) -> None:
        self.verdicts[verdict] += 1
        if label is not None:
            self.confusion[(label, verdict)] += 1
            if score is not None:
                self.scores.append(score)
                self.labels.append(label == "defect")

    def rates(self) -> dict[str, float]:
        good = sum(self.confusion[("good", v)] for v in VERDICTS)
        defect = sum(self.confusion[("defect", v)] for v in VERDICTS)
        y = np.array(self.labels, dtype=bool)
        total = sum(self.verdicts.values())
        return {
            "auroc": auroc(np.array(self.scores), y),
            "escape_rate": self.confusion[("defect", "pass")] / defect if defect else float("nan"),
            "false_reject_rate": self.confusion[("good", "reject")] / good if good else float("nan"),
            "review_rate": self.verdicts["uncertain"] / total if total else float("nan"),
        }


@dataclass
class Summary:
    files: int = 0
    decided: int = 0
    failed: int = 0
    primary: ModelStats = field(default_factory=ModelStats)
    challenger: ModelStats | None = None
    latencies_ms: list[float] = field(default_factory=list)
    failures: list[ReplayRow] = field(default_factory=list)
    disagreements: list[ReplayRow] = field(default_factory=list)
    n_disagreements: int = 0
    gallery: dict[str, list[ReplayRow]] = field(default_factory=dict)
    gallery_totals: Counter[str] = field(default_factory=Counter)

    @property
    def labelled(self) -> bool:
        return bool(self.primary.confusion)

    def add(self, row: ReplayRow) -> None:
        self.files += 1
        if row.status == "failed" or row.decision is None:
            self.failed += 1
            if len(self.failures) < LIST_LIMIT:
                self.failures.append(row)
            return
        self.decided += 1
        d = row.decision
        self.primary.add(row.label, d.verdict, d.score)
        if "total" in d.latency_ms:
            self.latencies_ms.append(d.latency_ms["total"])
        if row.challenger is not None:
            self.challenger = self.challenger or ModelStats()
            self.challenger.add(row.label, row.challenger.verdict, row.challenger.score)
            if row.challenger.verdict != d.verdict:
                self.n_disagreements += 1
                if len(self.disagreements) < LIST_LIMIT:
                    self.disagreements.append(row)
        section = "misclassified" if row.misclassified else d.verdict
        if section != "pass":
            self.gallery_totals[section] += 1
            items = self.gallery.setdefault(section, [])
            if len(items) < GALLERY_LIMIT:
                items.append(row)


def summarise(rows: Iterable[ReplayRow]) -> Summary:
    summary = Summary()
    for row in rows:
        summary.add(row)
    return summary
