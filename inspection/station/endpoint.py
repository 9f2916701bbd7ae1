"""The station's HTTP endpoint: /metrics for Prometheus and /healthz for people and load balancers.

A plain WSGI server on its own thread: two read-only routes do not need the review server's
FastAPI stack inside the inspection process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from inspection.errors import ConfigError
from inspection.station.monitoring import StationMonitor

StartResponse = Callable[..., Any]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


class Endpoint:
    def __init__(self, monitor: StationMonitor, host: str, port: int) -> None:
        self.monitor = monitor
        self._metrics = make_wsgi_app(monitor.registry)
        try:
            self._server = make_server(host, port, self._app, server_class=_Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise ConfigError(
                f"monitoring.port: cannot listen on {host}:{port} ({exc.strerror}); choose another port, "
                "or `port = 0` for any free one"
            ) from exc
        self.port = int(self._server.server_port)
        self._thread = threading.Thread(target=self._server.serve_forever, name="endpoint", daemon=True)

    def __enter__(self) -> Endpoint:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            health = self.monitor.health()
            status = "200 OK" if health.healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(health.as_dict()).encode()]
        if path == "/metrics":
            return self._metrics(environ, start_response)  # type: ignore[no-any-return]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"routes: /metrics, /healthz\n"]
