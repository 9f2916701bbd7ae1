"""A whole replay: decide the folder, then write decisions.csv and report.html in one pass."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from inspection.config import StationConfig
from inspection.factory import build_inspector
from inspection.model_card import ModelCard, card_path_for, load_card
from inspection.replay.journal import current_rows
from inspection.replay.report import write_report
from inspection.replay.rows import CSV_COLUMNS, csv_record
from inspection.replay.run import ReplayOptions, RunStats, replay
from inspection.replay.summary import Summary


@dataclass(frozen=True)
class ReplayResult:
    stats: RunStats
    summary: Summary
    report: Path
    csv: Path


def card_of(config: StationConfig) -> ModelCard:
    return load_card(config.model.card or card_path_for(config.model.path))


def write_outputs(options: ReplayOptions, stats: RunStats) -> tuple[Summary, Path]:
    """decisions.csv and the summary from the journal in one streaming pass; both files atomic."""
    out = options.out
    summary = Summary()
    tmp = out / "decisions.csv.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in current_rows(out / "decisions.jsonl", stats.ids):
            writer.writerow(csv_record(row))
            summary.add(row)
    tmp.replace(out / "decisions.csv")
    card = card_of(options.config)
    challenger = card_of(options.challenger) if options.challenger else None
    thresholds = options.config.thresholds.resolve(card)
    report = write_report(
        out,
        inspector=build_inspector(options.config),
        folder=options.root,
        summary=summary,
        run=stats,
        card=card,
        thresholds=thresholds,
        config=options.config,
        challenger_card=challenger,
    )
    return summary, report


def run_replay(options: ReplayOptions) -> ReplayResult:
    stats = replay(options)
    summary, report = write_outputs(options, stats)
    return ReplayResult(stats, summary, report, options.out / "decisions.csv")
