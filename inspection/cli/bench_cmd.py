"""`inspection bench`: station throughput and latency beside the bare model, with ratios."""

from __future__ import annotations

import os
from pathlib import Path

import click

from inspection.cli.common import config_option, exits_on_errors, station_config
from inspection.config import StationConfig
from inspection.station.bench import MAX_SIMULATED_HZ, Bare, StationRun, bare_model, bench_camera, station_at


def parse_rate(text: str) -> float | None:
    """Parts per second, or None for 'max': as fast as the source delivers."""
    if text == "max":
        return None
    try:
        rate = float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a number of parts per second nor 'max'") from None
    if not 0 < rate <= MAX_SIMULATED_HZ:
        raise click.BadParameter(f"{rate:g} parts/s is outside 0-{MAX_SIMULATED_HZ:g}; 'max' is the source's own")
    return rate


@click.command()
@config_option
@click.option("--seconds", type=click.FloatRange(min=1), default=20.0, show_default=True, help="Per measurement.")
@click.option(
    "--source",
    type=click.Choice(["simulated", "config"]),
    default="simulated",
    show_default=True,
    help="The simulated line, or the camera of --config (camera.kind 'folder' or 'genicam', e.g. viky), paced "
    "at each run's rate.",
)
@click.option(
    "--rate",
    "rate_text",
    metavar="RATE|max",
    help="One run at this many parts/s instead of the three standard runs; 'max' runs as fast as the source "
    "delivers (the simulated line 1000/s, a folder as fast as it is read, a camera at its configured frame rate).",
)
@exits_on_errors
def bench(config_file: Path | None, seconds: float, source: str, rate_text: str | None) -> None:
    """Run the station beside the bare model: at its best rate, the line's maximum and half load."""
    config = station_config(config_file)
    rate = None if rate_text is None else parse_rate(rate_text)
    bench_camera(config, source, rate)  # a source that cannot be benched is named before minutes of measuring
    bare = bare_model(config, seconds, config.pipeline.workers)
    for b in bare:
        click.echo(
            f"bare model, {b.label}: {b.per_second:7.1f}/s, p50 {b.p50_ms:.2f} ms, p99 {b.p99_ms:.2f} ms, "
            f"CPU {b.cpu_ms:.2f} ms per inference"
        )
    best = max(bare, key=lambda b: b.per_second)
    per_worker = bare[-1]  # the station's layout: one 1-thread session per worker
    if rate_text is not None:
        run = station_at(config, rate, seconds, source)
        _print(f"station, {source} source at {'its maximum' if rate is None else f'{rate:g} parts/s'}", run)
        _cpu(run, per_worker)
        click.echo(f"  throughput ratio station / best bare model: {run.throughput / best.per_second:.3f}")
        _latency_ratio(run, per_worker)
        _drift(config, seconds, per_worker)
        return
    # Offered the bare model's best rate, the station has exactly the work the baseline did; at the
    # line's maximum it also records ~80% of the parts as shed, which takes CPU from the model.
    matched = station_at(config, best.per_second, seconds, source)
    _print("station at the bare model's best rate", matched)
    _cpu(matched, per_worker)
    click.echo(
        f"  throughput ratio station / best bare model: {matched.throughput / best.per_second:.3f} (target >= 0.90)"
    )
    full = station_at(config, None, seconds, source)
    _print("station at the line's maximum", full)
    _cpu(full, per_worker)
    click.echo(f"  throughput ratio at the line's maximum (most parts shed): {full.throughput / best.per_second:.3f}")
    half = station_at(config, best.per_second / 2, seconds, source)
    _print("station at 50% of the bare throughput", half)
    _cpu(half, per_worker)
    _latency_ratio(half, per_worker, targets=True)
    _drift(config, seconds, per_worker)


def _drift(config: StationConfig, seconds: float, before: Bare) -> None:
    """The bare model once more: how far this machine's speed moved while the station ran."""
    after = bare_model(config, seconds, config.pipeline.workers, only_per_worker=True)[0]
    click.echo(
        f"bare model again after the station runs, {after.label}: {after.per_second:7.1f}/s "
        f"({after.per_second / before.per_second - 1:+.1%}: the machine's speed drift within this run, "
        "which the ratios above carry)"
    )


def _latency_ratio(run: StationRun, bare: Bare, targets: bool = False) -> None:
    if "capture_to_decision" not in run.latency_ms:
        click.echo("  no part was decided by the model: every one was shed or missed its deadline")
        return
    p99 = run.latency_ms["capture_to_decision"][2]
    goal = (" (target <= +5 ms)", " (target 0)") if targets else ("", "")
    click.echo(
        f"  capture-to-decision p99 {p99:.2f} ms vs bare p99 {bare.p99_ms:.2f} ms: "
        f"+{p99 - bare.p99_ms:.2f} ms{goal[0]}; deadline misses {run.deadline_misses}{goal[1]}"
    )


def _cpu(run: StationRun, bare: Bare) -> None:
    """Where each part's CPU went: what the throughput ratio alone cannot say."""
    if run.cpu is None:
        click.echo("  CPU per part: the run was too short for a steady window (or /proc is missing)")
        return
    cpu = run.cpu
    stages = ", ".join(f"{stage} {ms:.2f}" for stage, ms in sorted(cpu.ms.items(), key=lambda kv: -kv[1]))
    cores = len(os.sched_getaffinity(0))
    click.echo(
        f"  CPU per part decided by the model ({cpu.seconds:.1f} s window, {cpu.parts} parts): {stages} = "
        f"{cpu.total_ms:.2f} ms vs the bare model's {bare.cpu_ms:.2f} ms per inference; {cores} cores allow "
        f"at most {cores * 1e3 / cpu.total_ms:.0f} parts/s"
    )


def _print(title: str, run: StationRun) -> None:
    click.echo(
        f"{title} ({run.rate_hz:.0f} parts/s offered, {run.seconds:.1f} s): {run.throughput:7.1f}/s decided by the "
        f"model, {run.overload} shed (overload), {run.deadline_misses} deadline misses of {run.parts} parts"
    )
    for stage, (p50, p95, p99, worst) in sorted(run.latency_ms.items()):
        click.echo(f"  {stage:>20}: p50 {p50:6.2f}  p95 {p95:6.2f}  p99 {p99:6.2f}  max {worst:7.2f} ms")
