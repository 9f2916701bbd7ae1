"""What the commands share: config loading, model override, and error -> exit code mapping."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

import click

from inspection.config import StationConfig, load_config
from inspection.errors import GoldenDriftError, GoldenSampleError, InspectionError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2

P = ParamSpec("P")
R = TypeVar("R")

config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path, dir_okay=False), help="Station config (TOML or YAML)."
)
model_option = click.option(
    "--model", "model_path", type=click.Path(path_type=Path, dir_okay=False), help="ONNX model overriding the config's."
)


def station_config(config_file: Path | None, model_path: Path | None = None) -> StationConfig:
    cfg = load_config(config_file)
    if model_path is not None:
        cfg = cfg.with_model(path=model_path, card=None)
    return cfg


def exits_on_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Prints the station's own errors without a traceback and exits with their code."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (GoldenDriftError, GoldenSampleError) as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_FAILED)
        except InspectionError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)

    return wrapper
