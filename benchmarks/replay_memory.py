"""Peak memory of a replay over 20 000 images against one over 2 000 (target: within 10%).

Each replay runs as its own `inspection replay` process; its memory is the summed resident set
of that process and its workers, sampled every 50 ms from /proc.

    python benchmarks/replay_memory.py [--small 2000] [--large 20000]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from camera.sim.archive import write_archive


def tree_rss_kib(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, in KiB."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            for task in Path(f"/proc/{p}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total


def peak_replay_mib(folder: Path, out: Path) -> tuple[float, float]:
    """(peak MiB, seconds) of one replay of `folder`."""
    command = [sys.executable, "-m", "inspection.cli", "replay", str(folder), "--out", str(out), "--quiet"]
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.05)
    if proc.returncode != 0:
        raise SystemExit(f"replay of {folder} exited {proc.returncode}")
    return peak / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=2000)
    parser.add_argument("--large", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for count in (args.small, args.large):
            folder = Path(tmp) / f"archive-{count}"
            write_archive(folder, count, suffix=".jpg")  # JPEG keeps 20 000 frames at ~1.5 GB of disk
            results.append((count, *peak_replay_mib(folder, Path(tmp) / f"out-{count}")))
    for count, mib, seconds in results:
        print(f"replay of {count:>6} images: peak {mib:7.1f} MiB (process + workers), {seconds:6.1f} s")
    ratio = results[1][1] / results[0][1]
    print(f"peak ratio large / small: {ratio:.3f} (target <= 1.10)")


if __name__ == "__main__":
    main()
