"""The station's HTTP endpoint: /metrics for Prometheus and /healthz for people and load balancers.

A plain WSGI server on its own thread: two read-only routes and one command (an operator's reset
of 'cannot reject', from this machine only) do not need the review server's FastAPI stack inside
the inspection process.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import make_wsgi_app

from inspection.actuation.reset import ROUTE, Reset
from inspection.errors import ConfigError
from inspection.station.monitoring import StationMonitor

StartResponse = Callable[..., Any]
BAD_RESET = 'expected JSON {"by": "<user>", "reason": "<why>"}, both non-empty'


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds would flood the log."""


class Endpoint:
    def __init__(
        self, monitor: StationMonitor, host: str, port: int, reset: Callable[[str, str], Reset] | None = None
    ) -> None:
        """reset(by, reason): the gate's reset (reset.GateReset); None: the route answers 404."""
        self.monitor = monitor
        self._reset = reset
        self._local = {"127.0.0.1", "::1", host}  # this machine: loopback, or the address it listens on
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
        if path == ROUTE:
            status, body = self._gate_reset(environ)
            start_response(status, [("Content-Type", "application/json")])
            return [json.dumps(body).encode()]
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [f"routes: /metrics, /healthz, POST {ROUTE}\n".encode()]

    def _gate_reset(self, environ: dict[str, Any]) -> tuple[str, dict[str, object]]:
        """409 when the gate refuses (a fault input still active): the same document as a 200."""
        if environ.get("REQUEST_METHOD") != "POST":
            return "405 Method Not Allowed", {"error": f"POST {BAD_RESET}"}
        if environ.get("REMOTE_ADDR") not in self._local:
            return "403 Forbidden", {"error": "a reset is taken from the station's own machine only"}
        if self._reset is None:
            return "404 Not Found", {"error": "this station runs no gate"}
        try:
            body = json.loads(environ["wsgi.input"].read(min(int(environ.get("CONTENT_LENGTH") or 0), 4096)))
            by, reason = str(body["by"]).strip(), str(body["reason"]).strip()
        except (ValueError, KeyError, TypeError):
            return "400 Bad Request", {"error": BAD_RESET}
        if not by or not reason:
            return "400 Bad Request", {"error": BAD_RESET}
        answer = self._reset(by, reason)
        return "200 OK" if answer.accepted else "409 Conflict", asdict(answer)
