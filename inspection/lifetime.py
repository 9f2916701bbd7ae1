"""Child processes: started from a clean fork server, and ended with their parent."""

from __future__ import annotations

import functools
import multiprocessing
import multiprocessing.context
import os
import select
import threading

# Imported once by the fork server, so that each child starts in milliseconds.
PRELOAD = ["camera.genicam.acquisition", "inspection.replay.worker"]


@functools.cache
def process_context() -> multiprocessing.context.ForkServerContext:
    """Where every child process comes from: a fork server started from a clean interpreter.

    Forking the station itself is unsafe once it runs threads (a GenTL producer's, onnxruntime's,
    a recorder's): a child can inherit a lock some other thread held and hang forever, which we
    saw in the test suite. Spawning is safe but re-imports everything per child (seconds).
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def die_with_parent(parent_pid: int) -> None:
    """Ends this process when `parent_pid` ends, so a killed station or replay leaves no orphans.

    Neither pipe EOF nor PR_SET_PDEATHSIG works for fork-server children: their parent is the fork
    server, which every child keeps alive through an inherited descriptor, and queues keep their
    own write ends open. A pidfd of the real parent becomes readable when it exits, on any thread.
    """
    try:
        pidfd = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(1)  # the parent is already gone
    except (AttributeError, OSError):
        return  # not Linux >= 5.3: children end when the parent closes their pipes on a clean exit

    def watch() -> None:
        select.select([pidfd], [], [])
        os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()
