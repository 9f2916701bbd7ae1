"""`inspection calibrate thresholds FOLDER`: the pass and reject thresholds for target error rates."""

from __future__ import annotations

import secrets
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from calibration.record import CalibrationError, save_record
from calibration.scoring import ScoredFolder, score_folder
from calibration.threshold_plots import thresholds_plot
from calibration.thresholds import (
    Counts,
    RateEstimate,
    ThresholdsCalibration,
    bootstrap_rates,
    check_counts,
    choose_thresholds,
    estimate_rates,
)
from inspection.cli.common import config_option, exits_on_errors, model_option, station_config
from inspection.config import StationConfig
from inspection.config.station import ThresholdsConfig
from inspection.factory import build_inspector, load_runtime
from inspection.inspector import Inspector

console = Console()
SHOWN = 20  # skipped and fail-safe files listed by name; the rest are counted
Rate = click.FloatRange(0.0, 1.0, min_open=True, max_open=True)


def _inspector(cfg: StationConfig) -> Inspector:
    """The station's inspector; a configured thresholds file for another model must not block recalibrating."""
    runtime = load_runtime(cfg)
    try:
        return build_inspector(cfg, runtime)
    except CalibrationError as exc:
        if cfg.thresholds.file is None:
            raise
        console.print(f"[yellow]note:[/yellow] scoring without the configured thresholds file ({exc})")
        return build_inspector(cfg.model_copy(update={"thresholds": ThresholdsConfig()}), runtime)


def _list(title: str, items: tuple[tuple[str, str], ...], style: str) -> None:
    if items:
        console.print(f"[{style}]{len(items)} {title}:[/{style}]")
    for name, why in items[:SHOWN]:
        console.print(f"  {name}: {why}")
    if len(items) > SHOWN:
        console.print(f"  ... and {len(items) - SHOWN} more")


def _usable(folder: Path, scored: ScoredFolder, escape_rate: float, false_reject_rate: float) -> None:
    if scored.n_good == 0 or scored.n_defect == 0:
        raise CalibrationError(
            f"{folder} has {scored.n_good} usable good and {scored.n_defect} usable defective images "
            f"({len(scored.skipped)} skipped, {len(scored.failsafe)} fail-safe): calibration needs both, in folders "
            "named good/ok/pass and defect/ng/bad/reject"
        )
    check_counts(scored.n_good, scored.n_defect, escape_rate, false_reject_rate)


def _pct(rate: float) -> str:
    return f"{100 * rate:.2f}%"


def _report(record: ThresholdsCalibration, json_path: Path, png_path: Path) -> None:
    r, c, level = record.rates, record.counts, f"{100 * record.confidence:g}%"
    head = Table(title=record.id, show_header=False, title_justify="left")
    head.add_column(style="bold")
    head.add_column()
    head.add_row("model", f"{record.model_name} ({record.model_id[:12]})")
    head.add_row("pass_below", f"{record.pass_below:g}  (scores below pass; sets the escape rate)")
    head.add_row("reject_above", f"{record.reject_above:g}  (scores at or above reject; sets the false-reject rate)")
    head.add_row("parts", f"{c.good} good, {c.defect} defective; {c.failsafe} fail-safe and {c.skipped} skipped")
    console.print(head)
    rates = Table(title=f"rates ({level} intervals for new parts, {record.resamples} resamples)", title_justify="left")
    for column in ("", "target", "this folder", "expected", f"{level} interval"):
        rates.add_column(column, justify="right" if column else "left")
    rows: tuple[tuple[str, float | None, RateEstimate], ...] = (
        ("escape (defects passed)", record.escape_rate_target, r.escape),
        ("false reject (good rejected)", record.false_reject_rate_target, r.false_reject),
        ("review, all parts", None, r.review),
        ("review, good parts", None, r.review_good),
        ("review, defective parts", None, r.review_defect),
    )
    for name, target, e in rows:
        band = f"{_pct(e.low)} - {_pct(e.high)}"
        rates.add_row(name, _pct(target) if target else "", _pct(e.value), _pct(e.expected), band)
    console.print(rates)
    if record.crossed:
        console.print(
            "[yellow]the thresholds crossed:[/yellow] at these targets the classes separate, so there is no review "
            f"band; both thresholds are {record.reject_above:g} (the false-reject one), which keeps escapes at or "
            "below their target with margin"
        )
    if not record.false_reject_target_met:
        console.print(
            "[red]the false-reject target is NOT met:[/red] too many good parts score 1.0 for any threshold to spare "
            "them; escapes were kept at their target (they are never traded away)"
        )
    json_path, png_path = json_path.resolve(), png_path.resolve()
    console.print(f"written: {json_path}\n         {png_path}")
    console.print(
        'use: in the station config, [bold]thresholds.file = "' + str(json_path) + '"[/bold] (decisions record '
        f"version {record.id}); a running station gets it from a supervisor in the review UI. The file belongs to "
        "this model only: the station refuses it for any other."
    )


@click.command("thresholds")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option(
    "--escape-rate", type=Rate, required=True, help="Target share of DEFECTIVE parts passed; sets pass_below."
)
@click.option(
    "--false-reject-rate", type=Rate, required=True, help="Target share of GOOD parts rejected; sets reject_above."
)
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 1.0, max_open=True),
    default=0.95,
    show_default=True,
    help="Level of the intervals.",
)
@click.option("--resamples", type=click.IntRange(min=100), default=2000, show_default=True, help="Bootstrap resamples.")
@click.option("--seed", type=int, help="Bootstrap seed (default: random, recorded in the file).")
@config_option
@model_option
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder for the file and plot.",
)
@click.option("--notes", default="", help="Free text kept in the file: who, which rig, why.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@exits_on_errors
def thresholds(  # noqa: PLR0917 -- click passes options positionally by name
    folder: Path,
    escape_rate: float,
    false_reject_rate: float,
    confidence: float,
    resamples: int,
    seed: int | None,
    config_file: Path | None,
    model_path: Path | None,
    out_dir: Path,
    notes: str,
    quiet: bool,
) -> None:
    """Choose pass_below and reject_above on the labelled images in FOLDER.

    FOLDER holds images below good/ok/pass and defect/ng/bad/reject folders. An ESCAPE is a
    defective part that passes (score < pass_below), so --escape-rate sets the LOWER threshold;
    a FALSE REJECT is a good part rejected without a human (score >= reject_above), so
    --false-reject-rate sets the UPPER one; parts in between go to review. If the targets leave no
    review band, both thresholds take the false-reject one: escapes are never traded away.
    The intervals say what new parts should see: the thresholds are re-chosen on every bootstrap
    resample and the rates measured on the parts it left out (conservative for folders of this
    size). Writes <id>.json and <id>-thresholds.png into --out.
    """
    cfg = station_config(config_file, model_path)
    inspector = _inspector(cfg)
    scored = score_folder(folder, inspector, quiet)
    _list("files skipped (unreadable or unlabelled)", scored.skipped, "yellow")
    _list("images decided fail-safe (no trustworthy score; not used)", scored.failsafe, "red")
    _usable(folder, scored, escape_rate, false_reject_rate)
    seed = secrets.randbits(32) if seed is None else seed
    choice = choose_thresholds(scored.scores, scored.labels, escape_rate, false_reject_rate)
    boot = bootstrap_rates(
        scored.scores,
        scored.labels,
        escape_rate,
        false_reject_rate,
        rng=np.random.default_rng(seed),
        resamples=resamples,
    )
    own = inspector.thresholds
    record = ThresholdsCalibration(
        notes=notes,
        model_id=inspector.runtime.model_id,
        model_name=inspector.runtime.card.name,
        pass_below=choice.pass_below,
        reject_above=choice.reject_above,
        region_threshold=own.region_threshold,
        min_region_px=own.min_region_px,
        escape_rate_target=escape_rate,
        false_reject_rate_target=false_reject_rate,
        crossed=choice.crossed,
        false_reject_target_met=choice.false_reject_met,
        rates=estimate_rates(scored.scores, scored.labels, choice, boot, confidence),
        counts=Counts(
            good=scored.n_good, defect=scored.n_defect, failsafe=len(scored.failsafe), skipped=len(scored.skipped)
        ),
        confidence=confidence,
        resamples=resamples,
        seed=seed,
        source_folder=str(folder.resolve()),
    ).stamped()
    json_path = save_record(record, out_dir)
    png_path = thresholds_plot(scored.scores, scored.labels, record, out_dir / f"{record.id}-thresholds.png")
    _report(record, json_path, png_path)
