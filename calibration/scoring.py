"""A labelled folder -> model scores, through the station's own decision code, with every failure listed.

A plain loop: the bundled model takes ~5 ms an image and decoding a frame about as long, so a
thousand images score in ~10 s; a process pool would not pay for its start-up here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from inspection.errors import ImageError
from inspection.images import iter_image_files, read_image
from inspection.inspector import Inspector
from inspection.labels import DEFECT_NAMES, GOOD_NAMES, label_of
from inspection.progress import progress

UNLABELLED = f"no {'/'.join(sorted(GOOD_NAMES))} or {'/'.join(sorted(DEFECT_NAMES))} folder above it"


@dataclass(frozen=True)
class ScoredFolder:
    scores: np.ndarray  # float64 (N,), the model's score of each usable image
    labels: np.ndarray  # bool (N,), True = defective
    names: tuple[str, ...]  # paths relative to the folder, same order
    failsafe: tuple[tuple[str, str], ...]  # (name, reason): the model could not vouch for the image
    skipped: tuple[tuple[str, str], ...]  # (name, why): unlabelled or unreadable

    @property
    def n_good(self) -> int:
        return int(np.count_nonzero(~self.labels))

    @property
    def n_defect(self) -> int:
        return int(np.count_nonzero(self.labels))


def score_folder(folder: Path, inspector: Inspector, quiet: bool = False) -> ScoredFolder:
    """Scores every labelled image below `folder`; fail-safe decisions are kept apart, never dropped."""
    scores: list[float] = []
    labels: list[bool] = []
    names: list[str] = []
    failsafe: list[tuple[str, str]] = []
    skipped: list[tuple[str, str]] = []
    paths = iter_image_files(folder)
    with progress("score", len(paths), quiet) as advance:
        for path in paths:
            name = path.relative_to(folder).as_posix()
            defective = label_of(path, folder)
            if defective is None:
                skipped.append((name, UNLABELLED))
            else:
                try:
                    image = read_image(path)
                except ImageError as exc:
                    skipped.append((name, str(exc).removeprefix(f"{path}: ")))
                else:
                    decision = inspector.inspect(image, name).decision
                    if decision.verdict == "failsafe" or decision.score is None:
                        failsafe.append((name, f"{decision.reason}: {decision.detail}"))
                    else:
                        scores.append(decision.score)
                        labels.append(defective)
                        names.append(name)
            advance()
    return ScoredFolder(
        np.array(scores, dtype=np.float64), np.array(labels, dtype=bool), tuple(names), tuple(failsafe), tuple(skipped)
    )
