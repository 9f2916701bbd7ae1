"""`inspection bench`: the station beside the bare model, on the simulated line, a folder or viky."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import main

SAMPLES = Path(__file__).resolve().parent.parent / "sample_images"
FOLDER = f'[camera]\nkind = "folder"\npath = "{SAMPLES}"\n'
RUN_LINE = re.compile(
    r"\((?P<offered>\d+) parts/s offered, [\d.]+ s\): +(?P<rate>[\d.]+)/s decided by the model, (?P<shed>\d+) shed "
    r"\(overload\), (?P<misses>\d+) deadline misses of (?P<parts>\d+) parts"
)


def bench(tmp_path: Path, *args: str, camera: str | None = None) -> tuple[int, str]:
    argv = ["bench", "--seconds", "1", *args]
    if camera is not None:
        config = tmp_path / "station.toml"
        config.write_text(camera)
        argv += ["--config", str(config)]
    result = CliRunner().invoke(main, argv)
    return result.exit_code, result.output


def only_run(output: str) -> re.Match[str]:
    runs = list(RUN_LINE.finditer(output))
    assert len(runs) == 1, output
    return runs[0]


def test_a_set_rate_on_the_simulated_line_decides_exactly_its_parts(tmp_path: Path) -> None:
    code, output = bench(tmp_path, "--rate", "40")
    assert code == 0, output
    assert "bare model, 2 session(s) x 1 thread(s)" in output
    run = only_run(output)
    assert (run["offered"], run["parts"]) == ("40", "40")
    assert int(run["shed"]) + int(run["misses"]) < 40
    for stage in ("capture_to_decision", "preprocess", "model", "decide"):
        assert re.search(rf"{stage}: p50 +[\d.]+ +p95 +[\d.]+ +p99 +[\d.]+ +max +[\d.]+ ms", output), stage
    assert re.search(r"throughput ratio station / best bare model: 0\.\d{3}", output)
    assert re.search(r"capture-to-decision p99 [\d.]+ ms vs bare p99 [\d.]+ ms: \+-?[\d.]+ ms", output)
    assert re.search(r"bare model, 2 session\(s\) x 1 thread\(s\):.* CPU [\d.]+ ms per inference", output)
    cpu_line = (
        r"CPU per part decided by the model \([\d.]+ s window, (?P<parts>\d+) parts\): (?P<stages>.*) = "
        r"(?P<total>[\d.]+) ms"
    )
    cpu = re.search(cpu_line, output)
    assert cpu is not None, output
    stages = {name: float(ms) for name, ms in (s.rsplit(" ", 1) for s in cpu["stages"].split(", "))}
    assert 0 < int(cpu["parts"]) < 40
    assert stages["inference"] > 1.0, stages  # the model alone takes ~5 ms of CPU per part
    assert abs(sum(stages.values()) - float(cpu["total"])) < 0.05 * len(stages)
    again = r"bare model again after the station runs, 2 session\(s\) x 1 thread\(s\): +[\d.]+/s \([+-][\d.]+%"
    assert re.search(again, output)


@pytest.mark.slow
def test_a_folder_is_benched_paced_and_looped(tmp_path: Path) -> None:
    images = len(list(SAMPLES.rglob("*.png")))
    # More parts than the folder holds: it loops rather than ending the run early.
    code, output = bench(tmp_path, "--rate", str(images + 10), "--source", "config", camera=FOLDER)
    assert code == 0, output
    assert only_run(output)["parts"] == str(images + 10)


@pytest.mark.slow
def test_at_max_a_folder_runs_for_the_time_given(tmp_path: Path) -> None:
    code, output = bench(tmp_path, "--rate", "max", "--source", "config", camera=FOLDER)
    assert code == 0, output
    assert "config source at its maximum" in output
    assert int(only_run(output)["parts"]) > 10


@pytest.mark.genicam
@pytest.mark.slow
def test_viky_is_benched_at_a_set_frame_rate(tmp_path: Path) -> None:
    camera = '[camera]\nkind = "genicam"\npixel_format = "Mono8"\nwidth = 800\nheight = 600\n'
    code, output = bench(tmp_path, "--rate", "50", "--source", "config", camera=camera)
    assert code == 0, output
    run = only_run(output)
    assert run["parts"] == "50"
    assert 40 <= float(run["rate"]) + int(run["shed"]) <= 60, "viky delivered at the frame rate asked for"


def test_a_rate_that_is_not_one_is_refused_before_measuring(tmp_path: Path) -> None:
    code, output = bench(tmp_path, "--rate", "fast")
    assert code == 2
    assert "'fast' is neither a number of parts per second nor 'max'" in output
    assert "bare model" not in output


def test_the_config_source_needs_a_folder_or_camera(tmp_path: Path) -> None:
    code, output = bench(tmp_path, "--rate", "10", "--source", "config", camera="[camera]\nparts_per_minute = 600\n")
    assert code == 2
    assert "needs camera.kind 'folder' or 'genicam'" in output
    assert "bare model" not in output
