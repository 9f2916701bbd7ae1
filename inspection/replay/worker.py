"""A replay worker process: its own model session(s), deciding one file per task."""

from __future__ import annotations

import hashlib
import signal
from dataclasses import dataclass
from pathlib import Path

from inspection.config import StationConfig
from inspection.errors import ImageError
from inspection.factory import build_inspector
from inspection.images import decode_image
from inspection.inspector import Inspector
from inspection.library_threads import one_thread_per_call
from inspection.lifetime import die_with_parent
from inspection.replay.rows import Label, ReplayRow

PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


@dataclass(frozen=True)
class WorkerSetup:
    root: Path
    out: Path
    config: StationConfig
    challenger: StationConfig | None
    done: frozenset[tuple[str, str, str, str]]
    ids: tuple[str, str]  # decision ids of the model and challenger, for resume keys
    parent_pid: int


@dataclass
class WorkerState:
    setup: WorkerSetup
    inspector: Inspector
    challenger: Inspector | None


_state: WorkerState | None = None


def prepare(setup: WorkerSetup) -> None:
    """Creates and warms up this process's sessions once, not per file."""
    global _state  # noqa: PLW0603 -- one state per worker process is the point
    one_thread_per_call()
    challenger = build_inspector(setup.challenger) if setup.challenger else None
    _state = WorkerState(setup, build_inspector(setup.config), challenger)


def init_worker(setup: WorkerSetup) -> None:
    die_with_parent(setup.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle, once
    prepare(setup)


def replay_file(path: Path, label: Label | None) -> ReplayRow | None:
    """The file's row, or None when an earlier run already decided this content the same way."""
    state = _state
    assert state is not None, "init_worker did not run"
    rel = path.relative_to(state.setup.root).as_posix()
    try:
        data = path.read_bytes()
    except OSError as exc:
        return ReplayRow(path=rel, sha256="", label=label, status="failed", failure=f"cannot be read ({exc.strerror})")
    sha = hashlib.sha256(data).hexdigest()
    ids = state.setup.ids
    if (rel, sha, *ids) in state.setup.done:
        return None
    try:
        image = decode_image(data, path)
    except ImageError as exc:
        return ReplayRow(path=rel, sha256=sha, label=label, status="failed", failure=str(exc).removeprefix(f"{path}: "))
    except Exception as exc:  # a decoder bug on one file must not stop the run
        return ReplayRow(path=rel, sha256=sha, label=label, status="failed", failure=f"{type(exc).__name__}: {exc}")
    decision = state.inspector.inspect(image, rel).decision
    challenger = state.challenger.inspect(image, rel).decision if state.challenger else None
    return ReplayRow(path=rel, sha256=sha, label=label, status="decided", decision=decision, challenger=challenger)
