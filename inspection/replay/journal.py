"""decisions.jsonl: the replay's append-only record, and what makes a run resumable.

Each row is one line written with a single `write` and flushed, so a run killed at any moment
leaves at worst a torn last line, which the next run cuts off before appending.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from inspection.replay.rows import ReplayRow


def repair(path: Path) -> None:
    """Cuts a torn final line left by a killed run."""
    if not path.exists():
        return
    with path.open("rb+") as fh:
        data = fh.read()
        if data and not data.endswith(b"\n"):
            fh.truncate(data.rfind(b"\n") + 1)


def read_rows(path: Path) -> Iterator[ReplayRow]:
    if not path.exists():
        return
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                yield ReplayRow.model_validate_json(line)
            except ValidationError:
                continue  # a line from an older, incompatible run; it is simply decided again


class Journal:
    def __init__(self, path: Path, fresh: bool) -> None:
        self.path = path
        if fresh and path.exists():
            path.unlink()
        repair(path)
        self._fh: IO[str] = path.open("a", encoding="utf-8")

    def append(self, row: ReplayRow) -> None:
        self._fh.write(row.model_dump_json(exclude_none=True) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


def decided_keys(path: Path) -> set[tuple[str, str, str, str]]:
    """Files already decided, by content and model(s): these are skipped on resume."""
    return {row.key for row in read_rows(path) if row.status == "decided"}


def current_rows(path: Path, decision_ids: tuple[str, str]) -> Iterator[ReplayRow]:
    """The latest row per file for this model/threshold pairing, streamed in two passes.

    Only a path -> line map is held in memory, so 100 000 rows cost a few megabytes.
    """
    latest: dict[str, int] = {}
    for number, row in enumerate(read_rows(path)):
        if row.status == "failed" or (row.key[2], row.key[3]) == decision_ids:
            latest[row.path] = number
    for number, row in enumerate(read_rows(path)):
        if latest.get(row.path) == number:
            yield row
