"""`inspection bench`: station throughput and latency beside the bare model, with ratios."""

from __future__ import annotations

from pathlib import Path

import click

from inspection.cli.common import config_option, exits_on_errors, station_config
from inspection.station.bench import StationRun, bare_model, station_at

MAX_RATE_HZ = 1_000.0  # the simulated line's ceiling (60 000 parts/min)


@click.command()
@config_option
@click.option("--seconds", type=click.FloatRange(min=1), default=20.0, show_default=True, help="Per measurement.")
@exits_on_errors
def bench(config_file: Path | None, seconds: float) -> None:
    """Run the station on the simulated line at the bare model's rate, at full and at half load beside it."""
    config = station_config(config_file)
    workers = config.pipeline.workers
    bare = bare_model(config, seconds, workers)
    for b in bare:
        click.echo(f"bare model, {b.label}: {b.per_second:7.1f}/s, p50 {b.p50_ms:.2f} ms, p99 {b.p99_ms:.2f} ms")
    best = max(bare, key=lambda b: b.per_second)
    per_worker = bare[-1]  # the station's layout: one 1-thread session per worker
    # Offered the bare model's best rate, the station has exactly the work the baseline did; at the
    # line's maximum it also records ~80% of the parts as shed, which takes CPU from the model.
    matched = station_at(config, best.per_second, seconds)
    _print("station at the bare model's best rate", matched)
    click.echo(
        f"  throughput ratio station / best bare model: {matched.throughput / best.per_second:.3f} (target >= 0.90)"
    )
    full = station_at(config, MAX_RATE_HZ, seconds)
    _print("station at the line's maximum", full)
    click.echo(f"  throughput ratio at the line's maximum (most parts shed): {full.throughput / best.per_second:.3f}")
    half = station_at(config, best.per_second / 2, seconds)
    _print("station at 50% of the bare throughput", half)
    p99 = half.latency_ms["capture_to_decision"][2]
    click.echo(
        f"  capture-to-decision p99 {p99:.2f} ms vs bare p99 {per_worker.p99_ms:.2f} ms: "
        f"+{p99 - per_worker.p99_ms:.2f} ms (target <= +5 ms); deadline misses {half.deadline_misses} (target 0)"
    )


def _print(title: str, run: StationRun) -> None:
    click.echo(
        f"{title} ({run.rate_hz:.0f} parts/s offered, {run.seconds:.1f} s): {run.throughput:7.1f}/s decided by the "
        f"model, {run.overload} shed (overload), {run.deadline_misses} deadline misses of {run.parts} parts"
    )
    for stage, (p50, p95, p99, worst) in sorted(run.latency_ms.items()):
        click.echo(f"  {stage:>20}: p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f}  max {worst:7.2f} ms")
