"""`inspection status`: asks a running station whether camera, model, store, link, image and gate are healthy."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import click

from inspection.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, config_option, station_config


@click.command()
@config_option
@click.option("--url", help="Station endpoint (default: from the config's [monitoring] section).")
def status(config_file: Path | None, url: str | None) -> None:
    """Print the station's health; exit 0 healthy, 1 unhealthy, 2 not reachable."""
    if url is None:
        monitoring = station_config(config_file).monitoring
        url = f"http://{monitoring.host}:{monitoring.port}"
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/healthz", timeout=5) as response:
            health = json.load(response)
    except urllib.error.HTTPError as exc:
        health = json.load(exc)  # 503 carries the same document
    except (urllib.error.URLError, OSError) as exc:
        click.secho(f"error: no station answers at {url} ({exc}); is `inspection run` running?", fg="red", err=True)
        sys.exit(EXIT_BAD_INPUT)
    for part in ("camera", "model", "store", "link", "image", "gate"):
        value = health.get(part, "?")
        colour = "green" if value in ("ok", "not configured") else "red"
        click.echo(f"{part:>6}: " + click.style(str(value), fg=colour))
    if not health.get("healthy"):
        sys.exit(EXIT_FAILED)
