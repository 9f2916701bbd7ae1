"""Child processes that end with their parent, so a killed station never leaves orphans behind."""

from __future__ import annotations

import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int | None) -> None:
    """SIGTERM this process when its parent dies (Linux); `parent_pid` also closes the start-up race.

    A forkserver child's parent is the fork server, which exits with the station: pass None there.
    """
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return  # not Linux: children end when their pipes to the parent close
    if parent_pid is not None and os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
