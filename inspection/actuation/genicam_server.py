"""Camera output writes served by the process that owns the camera (the acquisition process).

A GigE Vision camera grants control access to one application at a time, and a USB3 Vision
camera is claimed by one process: when the gate camera is the camera the station acquires from,
only the acquisition process can write its outputs. This server runs in that process, beside
acquisition, on a Unix socket whose name comes from the device's identity, so the gate process
finds it without the station wiring the two together. Messages are JSON (nothing on the socket is
unpickled); the socket's folder is private to the user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Callable
from contextlib import suppress
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from camera.genicam.discovery import DeviceInfo
from camera.genicam.features import NodeMap
from inspection.actuation.driver import DriverError
from inspection.actuation.genicam_io import IoLines
from inspection.config.actuation import GenicamDriverConfig

log = logging.getLogger(__name__)
STOP_CHECK_S = 0.1  # how soon the serving thread notices `stop` (a request is answered at once)


def io_address(device: DeviceInfo) -> Path:
    """The same path in the acquisition process (from the opened device) and the gate process (from discovery)."""
    folder = Path(tempfile.gettempdir()) / f"inspection-camera-io-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    key = hashlib.sha256(f"{Path(device.producer).name}\0{device.device_id}\0{device.serial}".encode()).hexdigest()
    return folder / f"{key[:20]}.sock"


class IoServer:
    """One client at a time (the gate process); started after the camera opens, stopped before it closes."""

    def __init__(self, device: DeviceInfo, node_map: NodeMap, attached: Callable[[bool], None] | None = None) -> None:
        """attached: told when a gate connects and leaves (the owner then shortens its GIL holds)."""
        self.device = device
        self.node_map = node_map
        self._attached = attached or (lambda _: None)
        self.path = io_address(device)
        with suppress(FileNotFoundError):
            self.path.unlink()  # left by a killed process: the camera has one owner, and it is this one
        # A plain socket, not multiprocessing's Listener: its exit-time unlink fails (and prints a traceback)
        # when a later owner of the camera has replaced the file.
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        self._listener.listen(1)
        self._inode = self.path.stat().st_ino
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="camera-io", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ends the client's connection (the gate sees the camera gone and reconnects) and waits for the thread."""
        self._stop.set()
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() (on Linux): closing it would not
        self._thread.join()
        self._listener.close()
        with suppress(FileNotFoundError):
            if self.path.stat().st_ino == self._inode:  # not a later owner's socket
                self.path.unlink()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError as exc:
                if not self._stop.is_set():
                    log.warning("camera %s: output writes no longer served: %s", self.device.describe(), exc)
                return
            self._attached(True)
            try:
                with Connection(client.detach()) as conn:
                    self._serve_client(conn)
            finally:
                self._attached(False)

    def _serve_client(self, conn: Connection) -> None:
        lines: IoLines | None = None
        while not self._stop.is_set():
            try:
                if not conn.poll(STOP_CHECK_S):
                    continue
                request = json.loads(conn.recv_bytes())
            except (EOFError, OSError, ValueError):
                return
            try:
                reply, lines = self._handle(request, lines)
            except DriverError as exc:
                reply = {"error": str(exc)}
            except Exception as exc:  # a node-map failure must reach the gate, not end this thread
                reply = {"error": f"camera {self.device.describe()}: {type(exc).__name__}: {exc}"}
            try:
                conn.send_bytes(json.dumps(reply).encode())
            except OSError:
                return

    def _handle(self, request: dict[str, Any], lines: IoLines | None) -> tuple[dict[str, Any], IoLines | None]:
        op = request.get("op")
        if op == "configure":
            config = GenicamDriverConfig.model_validate_json(request["config"])
            lines = IoLines(self.node_map, config, self.device.describe())
            lines.configure()
            return {"ok": True}, lines
        if lines is None:
            return {"error": "the camera's I/O lines are not configured: send configure first"}, None
        if op == "write":
            lines.write(str(request["output"]), bool(request["on"]))
            return {"ok": True}, lines
        if op == "read":
            return {"ok": True, "inputs": dict(lines.read_inputs())}, lines
        return {"error": f"unknown request {op!r}"}, lines


def start_io_server(
    device: DeviceInfo, node_map: NodeMap, attached: Callable[[bool], None] | None = None
) -> IoServer | None:
    """None when the socket cannot be created: acquisition goes on, and the gate reports it cannot connect."""
    try:
        return IoServer(device, node_map, attached)
    except OSError as exc:
        log.warning("camera %s: output writes cannot be served: %s", device.describe(), exc)
        return None
