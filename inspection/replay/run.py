"""`inspection replay`: streams a folder through worker processes into a journal and a report.

Memory stays flat however large the folder: files are walked lazily, at most a few tasks per
worker are in flight, and results go straight to the journal on disk.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

from inspection.config import StationConfig
from inspection.factory import build_inspector
from inspection.images import walk_image_files
from inspection.labels import label_of
from inspection.lifetime import process_context
from inspection.progress import progress
from inspection.replay.journal import Journal, decided_keys
from inspection.replay.labels_csv import load_labels
from inspection.replay.rows import Label, ReplayRow
from inspection.replay.worker import WorkerSetup, init_worker, prepare, replay_file

IN_FLIGHT_PER_WORKER = 4
P = ParamSpec("P")
T = TypeVar("T")


@dataclass
class RunStats:
    files: int = 0
    decided: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    ids: tuple[str, str] = ("-", "-")

    @property
    def per_second(self) -> float:
        return self.decided / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class ReplayOptions:
    root: Path
    out: Path
    config: StationConfig
    challenger: StationConfig | None = None
    jobs: int = os.cpu_count() or 1
    force: bool = False
    quiet: bool = False
    labels_csv: Path | None = None


class InProcessExecutor(Executor):
    """The executor interface over direct calls in this process."""

    def __init__(self, setup: WorkerSetup) -> None:
        prepare(setup)

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        future.set_result(fn(*args, **kwargs))
        return future


def decision_id_of(config: StationConfig) -> str:
    """The id rows will carry, found by loading (and checking) the model once up front.

    A decision depends on the model, the thresholds and the calibration files, so all three are in it.
    This also makes a bad model or config fail here, with its own message, before any worker starts.
    """
    inspector = build_inspector(config)
    calibration = inspector.calibration.id
    ids = (inspector.runtime.model_id, inspector.thresholds.version, *([calibration] if calibration else []))
    return "/".join(ids)


def replay(options: ReplayOptions) -> RunStats:
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, options.jobs)
    threads = max(1, (os.cpu_count() or 1) // jobs)
    config = options.config.with_model(intra_op_threads=threads)
    challenger = options.challenger.with_model(intra_op_threads=threads) if options.challenger else None
    ids = (decision_id_of(config), decision_id_of(challenger) if challenger else "-")

    journal_path = out / "decisions.jsonl"
    done = frozenset() if options.force else frozenset(decided_keys(journal_path))
    labels = load_labels(options.labels_csv) if options.labels_csv else {}
    total = sum(1 for _ in walk_image_files(options.root))
    stats = RunStats(files=total, ids=ids)
    setup = WorkerSetup(options.root, out, config, challenger, done, ids, os.getpid())

    def label(path: Path) -> Label | None:
        rel = path.relative_to(options.root).as_posix()
        if rel in labels:
            return labels[rel]
        defective = label_of(path, options.root)
        return None if defective is None else ("defect" if defective else "good")

    journal = Journal(journal_path, fresh=options.force)
    started = time.perf_counter()
    # One job runs in this process: no pool to start, and a debugger or profiler sees everything.
    pool = (
        InProcessExecutor(setup)
        if jobs == 1
        else ProcessPoolExecutor(jobs, mp_context=process_context(), initializer=init_worker, initargs=(setup,))
    )
    in_flight: deque[Future[ReplayRow | None]] = deque()

    def collect(future: Future[ReplayRow | None]) -> None:
        row = future.result()
        advance()
        if row is None:
            stats.skipped += 1
            return
        journal.append(row)
        if row.status == "failed":
            stats.failed += 1
        else:
            stats.decided += 1

    try:
        with progress("replay", total, options.quiet) as advance:
            for path in walk_image_files(options.root):
                in_flight.append(pool.submit(replay_file, path, label(path)))
                if len(in_flight) >= jobs * IN_FLIGHT_PER_WORKER:
                    collect(in_flight.popleft())
            while in_flight:
                collect(in_flight.popleft())
    except KeyboardInterrupt:
        stats.interrupted = True
        for future in in_flight:
            future.cancel()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        journal.close()
        stats.seconds = time.perf_counter() - started
    return stats
