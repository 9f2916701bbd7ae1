"""`inspection model info | eval | verify | train`."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from inspection.cli.common import EXIT_FAILED, config_option, exits_on_errors, model_option, station_config
from inspection.evaluation import evaluate, samples_from_folder
from inspection.factory import build_inspector, load_runtime
from inspection.golden import score_golden
from inspection.images import iter_image_files
from inspection.model_info import graph_stats, measure_latency

console = Console()


def _table(title: str, rows: Mapping[str, object]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, f"{value:.4f}" if isinstance(value, float) else str(value))
    return table


@click.group()
def model() -> None:
    """The defect model: facts, quality, parity, training."""


@model.command("info")
@config_option
@model_option
@click.option("--runs", default=300, show_default=True, help="Timed inferences.")
@exits_on_errors
def info(config_file: Path | None, model_path: Path | None, runs: int) -> None:
    """Size, parameters, FLOPs and measured latency (batch 1, configured threads)."""
    cfg = station_config(config_file, model_path)
    runtime = load_runtime(cfg.with_model(verify_golden=False))
    params, flops = graph_stats(runtime.path)
    latency = measure_latency(runtime, runs)
    card = runtime.card
    console.print(
        _table(
            f"{card.name} {card.version}",
            {
                "file": runtime.path,
                "model id (sha256)": runtime.model_id,
                "size": f"{runtime.path.stat().st_size / 1024:.1f} KiB",
                "parameters": f"{params:,}",
                "FLOPs / image": f"{flops / 1e9:.3f} G",
                "input": f"{card.input.name} {list(card.input.shape)} {card.input.layout} {card.input.colour}",
                "output": card.output.kind,
                "thresholds": f"pass < {card.thresholds.pass_below}, reject >= {card.thresholds.reject_above}",
                "threads": cfg.model.intra_op_threads,
                "latency median": f"{latency.median_ms:.2f} ms",
                "latency p99": f"{latency.p99_ms:.2f} ms",
                "throughput": f"{latency.per_second:.0f} images/s",
                "effective": f"{flops / 1e9 / (latency.median_ms / 1e3):.0f} GFLOP/s",
            },
        )
    )


@model.command("eval")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@config_option
@model_option
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@exits_on_errors
def eval_(folder: Path, config_file: Path | None, model_path: Path | None, as_json: bool, quiet: bool) -> None:
    """Image AUROC, escape and false-reject rates, uncertain share and pixel IoU on FOLDER.

    FOLDER holds images below good/ok/pass and defect/ng/bad/reject folders; defect masks in
    masks/ beside the images, same file names.
    """
    inspector = build_inspector(station_config(config_file, model_path))
    report = evaluate(inspector, samples_from_folder(folder), total=len(iter_image_files(folder)), quiet=quiet)
    summary = report.summary()
    if as_json:
        click.echo(json.dumps({**summary, "escapes": report.escapes, "false_rejects": report.false_rejects}))
        return
    t = inspector.thresholds
    console.print(
        _table(f"{folder} at thresholds {t.version} (pass < {t.pass_below}, reject >= {t.reject_above})", summary)
    )
    for name in report.escapes:
        console.print(f"[red]escape[/red] {name}")
    for name in report.false_rejects:
        console.print(f"[yellow]false reject[/yellow] {name}")


@model.command("verify")
@config_option
@model_option
@exits_on_errors
def verify(config_file: Path | None, model_path: Path | None) -> None:
    """Re-score the card's golden images; exit 1 if any drifted beyond tolerance."""
    cfg = station_config(config_file, model_path)
    runtime = load_runtime(cfg.with_model(verify_golden=False))
    results = score_golden(runtime)
    if not results:
        click.secho(f"model card of {runtime.card.name} lists no golden images", fg="red", err=True)
        sys.exit(EXIT_FAILED)
    for r in results:
        click.secho(f"{'ok   ' if r.ok else 'DRIFT'} {r}", fg=None if r.ok else "red")
    if not all(r.ok for r in results):
        sys.exit(EXIT_FAILED)


@model.command("train")
@click.argument("recipe_file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), help="Default: the recipe's folder."
)
@exits_on_errors
def train(recipe_file: Path, out_dir: Path | None) -> None:
    """Train, export and release the model described by RECIPE_FILE (needs the `train` extra)."""
    # torch is an optional extra: import it only when training is asked for.
    from inspection.training.pipeline import train_model  # noqa: PLC0415
    from inspection.training.recipe import load_recipe  # noqa: PLC0415

    card = train_model(load_recipe(recipe_file), out_dir or recipe_file.parent)
    console.print(_table(f"released {card.name} {card.version} ({card.sha256[:12]})", dict(card.metrics)))
