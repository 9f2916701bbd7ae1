"""The review server killed (-9) and restarted mid-run: nothing lost, nothing duplicated, every part disposed."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from inspection.config import StationConfig
from inspection.station.build import run_station
from review_ui import items
from review_ui.db import Database
from review_ui.queue import lines as queue_lines

pytestmark = pytest.mark.slow
PARTS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Callable[[], Any], timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
    return value


class ReviewServer:
    """`inspection review` in its own process, so that it can be killed like a crashed server."""

    def __init__(self, config_file: Path) -> None:
        self.config_file = config_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "inspection.cli", "review", "--config", str(self.config_file)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[StationConfig, ReviewServer, Database]]:
    link = f"tcp://127.0.0.1:{free_port()}"
    config_file = tmp_path / "station.toml"
    config_file.write_text(
        f'station_id = "line-a"\n[camera]\nparts_per_minute = 420\ndefect_rate = 0.5\npool_size = 8\n'
        f"[model]\nverify_golden = false\n[monitoring]\nport = 0\n"
        f'[storage]\ndata_dir = "data"\n[policy]\nreject = "confirm"\ngate_delay_ms = 1500\n'
        f'[link]\nserver = "{link}"\nresend_s = 0.5\n[review]\nport = {free_port()}\nlink_bind = "{link}"\n'
    )
    from inspection.config import load_config  # noqa: PLC0415 - the same loader as the CLI

    config = load_config(config_file)
    server = ReviewServer(config_file)
    server.start()
    database = Database(f"sqlite:///{config.storage.data_dir / 'review.db'}")
    yield config, server, database
    server.stop()
    database.close()


def test_killing_the_review_server_mid_run_loses_and_duplicates_nothing(
    setup: tuple[StationConfig, ReviewServer, Database],
) -> None:
    config, server, database = setup
    stop = threading.Event()
    answered: list[str] = []
    done = threading.Event()

    def inspector() -> None:
        """Answers waiting items straight in the server's database, as the UI would, reject/pass in turn."""
        while not done.is_set():
            try:
                with database.engine.begin() as connection:
                    for row in queue_lines.queue(connection, "ann")[:1]:
                        if row["state"] != "pending":
                            continue
                        choice: items.Choice = "pass" if len(answered) % 2 else "reject"
                        now = dt.datetime.now(dt.UTC)
                        items.resolve(connection, row["part_id"], "ann", choice, "seen", now, uuid.uuid4().hex)
                        answered.append(row["part_id"])
            except Exception:  # the server process may hold the write lock for a moment
                pass
            time.sleep(0.1)

    helper = threading.Thread(target=inspector)
    helper.start()
    station = threading.Thread(target=lambda: run_station(config, stop, max_parts=PARTS))
    station.start()
    wait_for(lambda: count(database) >= PARTS // 4)
    server.kill()  # mid-run: the station keeps deciding, fail-safes at deadlines and keeps its outbox
    killed_at = count(database)
    time.sleep(3.0)
    server.start()
    station.join()
    wait_for(lambda: count(database) == PARTS)
    station_db = sqlite3.connect(config.storage.data_dir / "station.db")
    reviewed = {r[0] for r in station_db.execute("SELECT part_id FROM decisions WHERE action = 'review'")}
    wait_for(lambda: count(database, items.items.c.review, items.items.c.disposition.is_not(None)) == len(reviewed))
    done.set()
    helper.join()
    assert killed_at < PARTS, "the kill must land mid-run"
    disposed = dict(station_db.execute("SELECT part_id, origin FROM dispositions").fetchall())
    assert set(disposed) == reviewed  # every part that waited got exactly one gate action (part_id is the key)
    assert {"human", "failsafe"} <= set(disposed.values())  # verdicts in time, and deadlines while the server was down
    assert station_db.execute("SELECT COUNT(*) FROM outbox WHERE durable = 1").fetchone()[0] == 0
    with database.engine.connect() as connection:
        server_reviewed = {r[0] for r in connection.execute(select(items.items.c.part_id).where(items.items.c.review))}
    assert server_reviewed == reviewed


def count(database: Database, *where: Any) -> int:
    try:
        with database.engine.connect() as connection:
            query = select(func.count()).select_from(items.items).where(*where)
            return int(connection.execute(query).scalar_one())
    except Exception:
        return 0  # the server has not created its tables yet
