"""The gate scheduler in a process of its own, so that firing times do not wait for the station's GIL.

In the station's process the scheduler thread shares the interpreter lock with inference and
recording threads: `benchmarks/gate_timing.py` measured a firing-time p99 of ~27 ms under full
load that way. Here the scheduler and its driver run in a child (from the fork server, ended with
the station), at real-time priority where the OS allows it. The station's side only queues
commands on a pipe (`submit`/`passed`, called on the hot path) and records what comes back; an
operator's `reset` goes the same way and waits for the scheduler's answer.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future
from dataclasses import asdict
from multiprocessing.connection import Connection
from typing import Any, Literal

from inspection.actuation.build import build_scheduler, log_alarm
from inspection.actuation.logging_gate import LoggingGate
from inspection.actuation.reset import Reset
from inspection.actuation.scheduler import Alarm, GateScheduler, Record
from inspection.config.actuation import ActuatorConfig, LoggingDriverConfig
from inspection.contracts import ActuatorCommand, ActuatorResult
from inspection.errors import ConfigError
from inspection.lifetime import die_with_parent, process_context

log = logging.getLogger(__name__)
START_TIMEOUT_S = 30.0
RESET_TIMEOUT_S = 5.0  # the scheduler answers between pulses: well under a second unless the PLC hangs
REALTIME_PRIORITY = 20


class GateProcess:
    """The station's `Actuator` for a real gate; `close()` it after the station stops."""

    def __init__(self, config: ActuatorConfig, record: Record, alarm: Alarm) -> None:
        self._record = record
        self._alarm = alarm
        self.counts: Counter[str] = Counter()
        self.alarms: Counter[str] = Counter()
        self.cannot_reject: str | None = None
        context = process_context()
        commands_out, self._commands = context.Pipe(duplex=False)
        self._events, events_in = context.Pipe(duplex=False)
        self._send_lock = threading.Lock()
        self._answers: dict[int, Future[Reset]] = {}  # resets asked, by id
        self._reset_ids = itertools.count()
        self._process = context.Process(
            target=serve,
            args=(config.model_dump_json(), commands_out, events_in, os.getpid()),
            name="gate",
            daemon=True,
        )
        self._process.start()
        commands_out.close()
        events_in.close()
        self._wait_ready()
        self._receiver = threading.Thread(target=self._receive, name="gate-results", daemon=True)
        self._receiver.start()

    def submit(self, command: ActuatorCommand) -> None:
        self._send(["submit", command.model_dump_json()])

    def passed(self, part_id: str, arrival_ns: int, origin: Literal["auto", "human"] = "auto") -> None:
        self._send(["passed", part_id, arrival_ns, origin])

    def reset(self, timeout_s: float = RESET_TIMEOUT_S) -> Reset:
        """An operator's reset of 'cannot reject' (see reset.py); blocks until the scheduler answers."""
        asked = next(self._reset_ids)
        answer: Future[Reset] = Future()
        self._answers[asked] = answer
        self._send(["reset", asked])
        try:
            return answer.result(timeout_s)
        except TimeoutError:
            return Reset(False, self.cannot_reject, f"the gate process did not answer within {timeout_s:g} s")
        finally:
            self._answers.pop(asked, None)

    def close(self, drain_s: float = 0.0) -> None:
        """Fires what is due within `drain_s`; waits for every result to be recorded."""
        self._send(["close", drain_s])
        self._receiver.join()
        self._process.join(timeout=drain_s + 10)
        if self._process.is_alive():
            self._process.kill()

    def _send(self, message: list[object]) -> None:
        with self._send_lock:
            try:
                self._commands.send_bytes(json.dumps(message).encode())
            except OSError as exc:
                self.alarms["gate_process"] += 1
                self._alarm("gate_process", f"the gate process is gone ({exc}); {message[0]} not delivered")

    def _wait_ready(self) -> None:
        """The scheduler's first connect runs before 'ready': its alarms (a PLC not reachable) and
        state come first and are handled like any later ones, not taken for the ready signal."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while self._events.poll(max(0.0, deadline - time.monotonic())):
            kind, *rest = json.loads(self._events.recv_bytes())
            if kind == "ready":
                return
            if kind == "error":
                self._process.join()
                raise ConfigError(f"actuator: {rest[0]}")
            self._handle(kind, rest)
        self._process.kill()
        raise ConfigError("actuator: the gate process did not start")

    def _receive(self) -> None:
        while True:
            try:
                kind, *rest = json.loads(self._events.recv_bytes())
            except EOFError:
                return
            if kind == "closed":
                return
            self._handle(kind, rest)

    def _handle(self, kind: str, rest: list[Any]) -> None:
        match kind:
            case "result":
                result = ActuatorResult.model_validate_json(rest[0])
                self.counts[result.outcome] += 1
                self._record(result)
            case "alarm":
                self.alarms[rest[0]] += 1
                self._alarm(rest[0], rest[1])
            case "state":
                self.cannot_reject = rest[0]
            case "reset":
                if (answer := self._answers.get(rest[0])) is not None:
                    answer.set_result(Reset(**rest[1]))


def serve(config_json: str, commands: Connection, events: Connection, parent_pid: int) -> None:
    """The child: one scheduler and its driver, fed from the pipe until `close`."""
    die_with_parent(parent_pid)
    _realtime()
    config = ActuatorConfig.model_validate_json(config_json)
    lock = threading.Lock()
    running: list[GateScheduler] = []

    def emit(message: list[object]) -> None:
        with lock:
            events.send_bytes(json.dumps(message).encode())

    def record(result: ActuatorResult) -> None:
        emit(["result", result.model_dump_json()])
        if running:
            emit(["state", running[0].cannot_reject])

    def alarm(kind: str, message: str) -> None:
        emit(["alarm", kind, message])
        if running:  # e.g. 'cannot reject' raised by a fault input while no part is recorded
            emit(["state", running[0].cannot_reject])

    def answer(asked: int, done: Future[Reset]) -> None:
        emit(["state", running[0].cannot_reject])  # first: the station's state is current when reset() returns
        emit(["reset", asked, asdict(done.result())])

    try:
        scheduler = build_scheduler(config, record, alarm)
        running.append(scheduler)
    except Exception as exc:
        emit(["error", f"{type(exc).__name__}: {exc}"])
        return
    emit(["ready"])
    while True:
        kind, *rest = json.loads(commands.recv_bytes())
        match kind:
            case "submit":
                scheduler.submit(ActuatorCommand.model_validate_json(rest[0]))
            case "passed":
                scheduler.passed(rest[0], rest[1], rest[2])
            case "reset":
                scheduler.reset().add_done_callback(functools.partial(answer, rest[0]))
            case "close":
                scheduler.close(rest[0])
                emit(["state", scheduler.cannot_reject])
                emit(["closed"])
                return


def _realtime() -> None:
    """Real-time priority where allowed (root or CAP_SYS_NICE): inference threads then never delay a firing."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    except (PermissionError, OSError, AttributeError):
        try:
            os.nice(-10)
        except (PermissionError, OSError):
            log.warning("gate process runs at normal priority: firing times may vary under load")


def start_gate(config: ActuatorConfig, record: Record) -> GateProcess | LoggingGate:
    """A real gate gets its own process; the logging driver has nothing to time (see logging_gate.py)."""
    if isinstance(config.driver, LoggingDriverConfig):
        return LoggingGate(config, record)
    return GateProcess(config, record, log_alarm)
