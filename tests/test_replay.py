"""`inspection replay`: broken files, the report against the CSV, resume, kill, compare, parity."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import psutil
import pytest
from click.testing import CliRunner

import inspection.inspector
from inspection.cli import main
from inspection.config import StationConfig
from inspection.decide import Judgement, decide
from inspection.factory import build_inspector
from inspection.images import read_image
from inspection.model_card import Thresholds
from inspection.outputs import ModelOutput
from inspection.replay.main import run_replay, write_outputs
from inspection.replay.run import ReplayOptions, replay
from tests.replay_folders import BROKEN_KINDS, write_broken, write_valid


class IdText(HTMLParser):
    """Text content of every element that has an id."""

    def __init__(self) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self._stack: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("img", "br", "meta", "link", "input"):
            return
        self._stack.append(dict(attrs).get("id"))

    def handle_endtag(self, tag: str) -> None:
        if self._stack and tag not in ("img", "br", "meta", "link", "input"):
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        for ident in self._stack:
            if ident:
                self.by_id[ident] = self.by_id.get(ident, "") + data


def report_ids(path: Path) -> dict[str, str]:
    parser = IdText()
    parser.feed(path.read_text(encoding="utf-8"))
    return {k: v.strip() for k, v in parser.by_id.items()}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def thousand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1 000 files: 980 valid frames in six formats, 20 broken in six different ways."""
    folder = tmp_path_factory.mktemp("archive")
    write_valid(folder, 980)
    kinds = list(BROKEN_KINDS)
    for i in range(20):
        write_broken(folder / "defect" if i % 2 else folder / "good", kinds[i % len(kinds)], i)
    return folder


@pytest.fixture(scope="module")
def replayed(thousand: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    out = tmp_path_factory.mktemp("out")
    result = CliRunner().invoke(main, ["replay", str(thousand), "--out", str(out), "--jobs", "2", "--quiet"])
    return out, result.exit_code


@pytest.mark.slow
def test_broken_files_are_listed_with_reasons_and_the_rest_decided(replayed: tuple[Path, int]) -> None:
    out, exit_code = replayed
    assert exit_code == 1  # some files failed
    rows = read_csv(out / "decisions.csv")
    assert len(rows) == 1000
    decided = [r for r in rows if r["status"] == "decided"]
    failed = [r for r in rows if r["status"] == "failed"]
    assert (len(decided), len(failed)) == (980, 20)
    for row in failed:
        kind = row["path"].split("/")[-1].rsplit("-", 1)[0]
        assert BROKEN_KINDS[kind] in row["failure"], row
    # 16-bit, 4-channel, mono and colour frames are decided like any other.
    for variant in ("mono8", "mono16", "bgra", "bgr_jpg", "bmp", "tif16"):
        these = [r for r in decided if variant in r["path"]]
        assert these and all(r["verdict"] in ("pass", "reject", "uncertain") for r in these), variant


@pytest.mark.slow
def test_report_counts_and_confusion_cells_equal_the_csv(replayed: tuple[Path, int]) -> None:
    out, _ = replayed
    rows = read_csv(out / "decisions.csv")
    ids = report_ids(out / "report.html")
    verdicts = Counter(r["verdict"] for r in rows if r["status"] == "decided")
    assert int(ids["count-files"]) == len(rows)
    assert int(ids["count-decided"]) == sum(verdicts.values())
    assert int(ids["count-failed"]) == sum(r["status"] == "failed" for r in rows)
    for verdict in ("pass", "uncertain", "reject", "failsafe"):
        assert int(ids[f"count-{verdict}"]) == verdicts[verdict]
    cells = Counter((r["label"], r["verdict"]) for r in rows if r["status"] == "decided")
    for label in ("good", "defect"):
        for verdict in ("pass", "uncertain", "reject", "failsafe"):
            assert int(ids[f"cm-{label}-{verdict}"]) == cells[(label, verdict)], (label, verdict)
    defect_total = sum(cells[("defect", v)] for v in ("pass", "uncertain", "reject", "failsafe"))
    assert float(ids["rate-escape_rate"]) == pytest.approx(cells[("defect", "pass")] / defect_total, abs=1e-4)


@pytest.mark.slow
def test_report_renders_in_chromium_without_console_errors(replayed: tuple[Path, int]) -> None:
    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the test extra")
    if not Path("/usr/bin/chromium").exists():
        pytest.fail("Debian chromium is missing: `make test` installs it (apt-get install chromium)")
    out, _ = replayed
    artifacts = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts"))
    artifacts.mkdir(exist_ok=True)
    errors: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto((out / "report.html").resolve().as_uri())
        assert page.locator("#count-files").inner_text() == "1000"
        assert page.locator("img.plot").count() >= 3
        gallery = page.locator(".gallery img")
        assert gallery.count() > 0
        assert gallery.first.evaluate("img => img.naturalWidth") == 320  # a decoded overlay, not a broken link
        page.screenshot(path=str(artifacts / "replay-report.png"), full_page=True)
        browser.close()
    assert errors == []


def test_resume_skips_decided_files_and_redecides_changed_ones(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    paths = write_valid(folder, 12, distinct=4)
    options = ReplayOptions(folder, out, StationConfig(), jobs=1, quiet=True)
    first = run_replay(options)
    assert (first.stats.decided, first.stats.skipped) == (12, 0)
    again = run_replay(options)
    assert (again.stats.decided, again.stats.skipped) == (0, 12)
    paths[0].write_bytes(write_valid(tmp_path / "other", 1, distinct=1, first_seed=1_200_000_000)[0].read_bytes())
    third = run_replay(options)
    assert (third.stats.decided, third.stats.skipped) == (1, 11)
    assert len(read_csv(out / "decisions.csv")) == 12
    forced = run_replay(ReplayOptions(folder, out, StationConfig(), jobs=1, quiet=True, force=True))
    assert forced.stats.decided == 12
    assert len((out / "decisions.jsonl").read_text().splitlines()) == 12


def test_torn_journal_line_is_cut_before_resuming(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    write_valid(folder, 6, distinct=3)
    options = ReplayOptions(folder, out, StationConfig(), jobs=1, quiet=True)
    run_replay(options)
    journal = out / "decisions.jsonl"
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text("".join(lines[:4]) + lines[4][: len(lines[4]) // 2])  # killed mid-write
    result = run_replay(options)
    assert (result.stats.decided, result.stats.skipped) == (2, 4)
    assert all(json.loads(line) for line in journal.read_text().splitlines())


def children_of(pid: int) -> list[int]:
    """Children and their children: replay workers come from a fork server the replay started."""
    return [child.pid for child in psutil.Process(pid).children(recursive=True)]


def is_alive(pid: int) -> bool:
    """Running or sleeping, not a zombie waiting for a reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_killed_replay_leaves_output_consistent_and_resumes(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    write_valid(folder, 300, distinct=6)
    command = [
        sys.executable,
        "-m",
        "inspection.cli",
        "replay",
        str(folder),
        "--out",
        str(out),
        "--jobs",
        "2",
        "--quiet",
    ]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "decisions.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not journal.exists() or journal.stat().st_size < 20_000):
        time.sleep(0.05)
    workers = children_of(proc.pid)
    assert workers, "the replay should have started worker processes"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_alive(pid) for pid in workers):
        time.sleep(0.05)
    assert not [pid for pid in workers if is_alive(pid)], "workers outlived the killed replay"
    before = len(journal.read_text().splitlines())
    assert 0 < before < 300, "the kill should land mid-run"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    rows = read_csv(out / "decisions.csv")
    assert len(rows) == 300 and len({r["path"] for r in rows}) == 300
    assert all(r["status"] == "decided" for r in rows)


def test_replay_decides_through_the_stations_decision_function(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    paths = write_valid(folder, 8, distinct=8)
    calls: list[float] = []
    real = decide

    def spy(output: ModelOutput, thresholds: Thresholds) -> Judgement:
        calls.append(output.score)
        return real(output, thresholds)

    options = ReplayOptions(folder, out, StationConfig(), jobs=1, quiet=True)
    monkeypatch.setattr(inspection.inspector, "decide", spy)
    stats = replay(options)
    assert len(calls) == 8  # one decision per file, through the station's decide()
    monkeypatch.undo()
    write_outputs(options, stats)
    # The inline station's inspector gives identical decision records for the same frames.
    inline = build_inspector(StationConfig())
    rows = {r["path"]: r for r in read_csv(out / "decisions.csv")}
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        decision = inline.inspect(read_image(path), rel).decision
        replayed = json.loads(
            next(line for line in (out / "decisions.jsonl").read_text().splitlines() if f'"path":"{rel}"' in line)
        )["decision"]
        expected = decision.model_dump(mode="json", exclude={"latency_ms"}, exclude_none=True)
        assert {k: v for k, v in replayed.items() if k != "latency_ms"} == expected
        assert rows[rel]["verdict"] == decision.verdict


def test_compare_lists_every_disagreement(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    write_valid(folder, 10, distinct=10)
    challenger = StationConfig().model_copy(
        update={
            "thresholds": StationConfig().thresholds.model_copy(
                update={"version": "strict", "pass_below": 0.0, "reject_above": 0.0}
            )
        }
    )
    result = run_replay(ReplayOptions(folder, out, StationConfig(), challenger=challenger, jobs=1, quiet=True))
    rows = read_csv(out / "decisions.csv")
    disagreements = sum(r["verdict"] != r["challenger_verdict"] for r in rows)
    assert disagreements == sum(r["verdict"] != "reject" for r in rows)  # the challenger rejects everything
    assert int(report_ids(result.report)["count-disagreements"]) == disagreements
    assert "challenger-rate-escape_rate" in report_ids(result.report)


def test_bad_arguments_exit_2(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    write_valid(folder, 1, distinct=1)
    missing_model = CliRunner().invoke(
        main, ["replay", str(folder), "--model", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "o")]
    )
    assert missing_model.exit_code == 2 and "none.onnx not found" in missing_model.output
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("path,label\na.png,maybe\n")
    result = CliRunner().invoke(
        main, ["replay", str(folder), "--labels", str(bad_labels), "--out", str(tmp_path / "o")]
    )
    assert result.exit_code == 2 and "line 2: label 'maybe'" in result.output


def test_labels_csv_overrides_folder_names(tmp_path: Path) -> None:
    folder, out = tmp_path / "in", tmp_path / "out"
    paths = write_valid(folder, 4, distinct=4)
    labels = tmp_path / "labels.csv"
    labels.write_text("path,label\n" + "".join(f"{p.relative_to(folder).as_posix()},ng\n" for p in paths))
    run_replay(ReplayOptions(folder, out, StationConfig(), jobs=1, quiet=True, labels_csv=labels))
    assert {r["label"] for r in read_csv(out / "decisions.csv")} == {"defect"}
