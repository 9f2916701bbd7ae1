"""`inspection review`: the review server (web UI, JSON API and the stations' link)."""

from __future__ import annotations

import gc
from pathlib import Path

import click
import uvicorn

from inspection.cli.common import config_option, exits_on_errors, station_config


@click.command()
@config_option
@click.option("--host", help="HTTP address (default: review.host from the config, loopback).")
@click.option("--port", type=click.IntRange(0, 65535), help="HTTP port (default: review.port, 8080).")
@exits_on_errors
def review(config_file: Path | None, host: str | None, port: int | None) -> None:
    """Serve the review queue, verdicts, audit trail and KPIs; stations connect over the link.

    First login: create an admin with `inspection users add NAME --role admin`, open the printed
    URL and log in; the admin adds inspectors and supervisors. The OpenAPI document is at /docs.
    """
    from review_ui.app import create_app  # noqa: PLC0415 - the web stack loads only for this command

    config = station_config(config_file)
    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    review_config = type(config.review).model_validate({**config.review.model_dump(), **overrides})
    config = config.model_copy(update={"review": review_config})
    app = create_app(config)
    scheme = "https" if review_config.tls_cert else "http"
    url = f"{scheme}://{review_config.host}:{review_config.port}/"
    click.echo(f"review server on {url} (stations connect to {review_config.link_bind})")
    # What is loaded by now lives as long as the server: frozen, a full collection no longer walks it
    # (benchmarks/review_ingest.py saw one stall every request for 155 ms with ~180k objects loaded).
    gc.collect()
    gc.freeze()
    uvicorn.run(
        app,
        host=review_config.host,
        port=review_config.port,
        ssl_certfile=None if review_config.tls_cert is None else str(review_config.tls_cert),
        ssl_keyfile=None if review_config.tls_key is None else str(review_config.tls_key),
        log_level="warning",
    )
