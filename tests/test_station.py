"""The inline station: every part gets exactly one decision, faults become failsafe, counters balance."""

from __future__ import annotations

import dataclasses
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from camera.frames import EndOfStream, Frame, Gap, SourceEvent
from camera.source import FrameSource, Pacer
from inspection.cli import main
from inspection.config import StationConfig
from inspection.config.station import PolicyConfig
from inspection.errors import ConfigError
from inspection.inspector import Inspector
from inspection.model_card import Thresholds
from inspection.runtime import ModelRuntime, file_sha256
from inspection.station.pipeline import Station, StationOptions
from inspection.station.policy import LoggingActuator
from inspection.station.store import SCHEMA, DecisionStore
from tests.onnx_builders import segmentation_model, tensor_value, write_card

SIDE = 16
QUIET = "[monitoring]\nport = 0\n"  # any free port: tests never collide with a station running here
# Grey levels that tell the faulty model what to do with a frame; ordinary parts use others.
RAISE, NAN, STALL = 7, 9, 11
PASS_GREY, UNCERTAIN_GREY, REJECT_GREY = 0, 128, 255


class ScriptedSource(FrameSource):
    """Plays a list of events as fast as they are read, then ends."""

    source_id = "scripted"

    def __init__(self, events: list[SourceEvent]) -> None:
        self.events = events
        self._next = 0

    def open(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...
    def close(self) -> None: ...

    def read(self, timeout_s: float) -> SourceEvent | None:
        if self._next == len(self.events):
            return EndOfStream(self.source_id, self._next)
        event, self._next = self.events[self._next], self._next + 1
        return event


def frame(index: int, grey: int) -> Frame:
    image = np.full((SIDE, SIDE), grey, np.uint8)
    return Frame("scripted", index, time.monotonic_ns(), "Mono8", image, part_id=f"p{index}-g{grey}")


class LiveFrames(ScriptedSource):
    """Paced like a camera at `rate_hz`, each frame stamped with the time it is delivered."""

    def __init__(self, events: list[SourceEvent], rate_hz: float) -> None:
        super().__init__(events)
        self.pacer = Pacer(rate_hz)

    def start(self) -> None:
        self.pacer.reset()

    def read(self, timeout_s: float) -> SourceEvent | None:
        if not self.pacer.wait(timeout_s):
            return None
        event = super().read(timeout_s)
        if isinstance(event, Frame):
            return Frame(
                event.source_id,
                event.frame_id,
                time.monotonic_ns(),
                event.pixel_format,
                event.image,
                part_id=event.part_id,
            )
        if isinstance(event, Gap):
            return dataclasses.replace(event, host_ns=time.monotonic_ns())
        return event


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = segmentation_model(tmp_path_factory.mktemp("model") / "seg.onnx")
    write_card(model)
    return model


def faulty_inspector(model: Path, stall_s: float) -> Inspector:
    """The real runtime and decision code, with a model that misbehaves on marked frames."""
    runtime = ModelRuntime.load(model)
    real_infer = runtime.infer

    def infer(tensor: np.ndarray) -> dict[str, np.ndarray]:
        marker = float(tensor.flat[0])
        if np.isclose(marker, tensor_value(RAISE)):
            raise RuntimeError("injected model crash")
        if np.isclose(marker, tensor_value(STALL)):
            time.sleep(stall_s)
        out = real_infer(tensor)
        if np.isclose(marker, tensor_value(NAN)):
            out = {name: np.full_like(value, np.nan) for name, value in out.items()}
        return out

    runtime.infer = infer  # type: ignore[method-assign]
    return Inspector(runtime, runtime.card.thresholds, "test-station")


def run_script(
    tmp_path: Path,
    model: Path,
    events: list[SourceEvent],
    *,
    budget_ms: float = 500.0,
    queue_frames: int = 64,
    rate_hz: float = 2_000.0,
) -> tuple[Station, list[sqlite3.Row]]:
    store = DecisionStore(tmp_path / "station.db")
    options = StationOptions("test-station", budget_ms, queue_frames, one_part_per_frame=True)
    inspectors = [faulty_inspector(model, stall_s=budget_ms / 1000 * 1.5) for _ in range(2)]
    source = LiveFrames(events, rate_hz)
    source.start()
    station = Station(options, source, inspectors, store)
    station.run(threading.Event())
    store.close()
    db = sqlite3.connect(tmp_path / "station.db")
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM decisions ORDER BY seq").fetchall()
    db.close()
    return station, rows


@pytest.mark.slow
def test_thousands_of_parts_with_injected_faults_balance_exactly(tmp_path: Path, tiny_model: Path) -> None:
    rng = np.random.default_rng(5)
    plan = rng.choice([PASS_GREY, UNCERTAIN_GREY, REJECT_GREY, RAISE, NAN], size=5_200, p=[0.5, 0.2, 0.2, 0.05, 0.05])
    plan[[1_000, 2_600, 4_200]] = STALL  # each holds a worker for 1.5 budgets: a stalled stage
    events: list[SourceEvent] = [frame(i, int(g)) for i, g in enumerate(plan)]
    events.insert(2_500, Gap("scripted", 10_000, 3, "frames lost before reaching the host", 0))
    station, rows = run_script(tmp_path, tiny_model, events, budget_ms=300.0, queue_frames=10_000)
    counts = station.accounting.snapshot()
    assert counts.in_flight == 0
    assert counts.acquired == len(plan) + 3 == counts.decided.total() + counts.dropped.total()
    assert len(rows) == counts.acquired
    assert len({r["part_id"] for r in rows}) == len(rows)  # exactly one decision per part
    assert len({r["source_ref"] for r in rows if r["source_ref"]}) == len(plan)
    expected = {PASS_GREY: ("pass", ""), UNCERTAIN_GREY: ("uncertain", ""), REJECT_GREY: ("reject", "")}
    faults = {RAISE: "model_error", NAN: "non_finite_score", STALL: "deadline"}
    by_part = {r["source_ref"]: r for r in rows}
    for i, grey in enumerate(plan):
        row = by_part[f"p{i}-g{grey}"]
        if row["reason"] == "deadline" and grey != STALL:
            continue  # a part queued behind stalled ones may miss its deadline too: failsafe, never pass
        if grey in faults:
            assert (row["verdict"], row["reason"]) == ("failsafe", faults[int(grey)]), dict(row)
        else:
            assert row["verdict"] == expected[int(grey)][0], dict(row)
    gap_rows = [r for r in rows if r["reason"] == "camera_gap"]
    assert len(gap_rows) == 3 and {r["verdict"] for r in gap_rows} == {"failsafe"}
    assert counts.failsafe["camera_gap"] == 3
    # Every crashing part is model_error, unless it queued behind a stalled one and ran out of time;
    # how many do depends on the machine's speed, never on the accounting.
    planned = {f"p{i}-g{g}": int(g) for i, g in enumerate(plan)}
    crashed = [r for r in rows if r["source_ref"] and planned[r["source_ref"]] == RAISE]
    assert Counter(r["reason"] for r in crashed).keys() <= {"model_error", "deadline"}
    assert counts.failsafe["model_error"] == sum(r["reason"] == "model_error" for r in crashed) > 0
    stalled = int((plan == STALL).sum())
    assert counts.failsafe["deadline"] >= stalled
    assert Counter(r["verdict"] for r in rows) == counts.decided


def test_a_full_queue_is_failsafe_overload_never_a_wait(tmp_path: Path, tiny_model: Path) -> None:
    events: list[SourceEvent] = [frame(i, STALL if i < 2 else PASS_GREY) for i in range(40)]
    station, rows = run_script(tmp_path, tiny_model, events, budget_ms=200.0, queue_frames=2)
    reasons = Counter(r["reason"] for r in rows if r["verdict"] == "failsafe")
    assert reasons["overload"] > 0
    assert len(rows) == 40
    counts = station.accounting.snapshot()
    assert counts.acquired == counts.decided.total() == 40


def test_numbering_continues_after_a_restart(tmp_path: Path, tiny_model: Path) -> None:
    run_script(tmp_path, tiny_model, [frame(i, PASS_GREY) for i in range(5)])
    _, rows = run_script(tmp_path, tiny_model, [frame(i, PASS_GREY) for i in range(5, 8)])
    assert [r["seq"] for r in rows] == list(range(1, 9))


@settings(max_examples=200, deadline=None)
@given(score=st.one_of(st.floats(width=32), st.floats(-0.125, 1.125, width=32)))  # what an fp32 model can emit
def test_no_part_passes_unless_its_score_is_valid_and_below_the_pass_threshold(score: float) -> None:
    thresholds = Thresholds(version="t", pass_below=0.3, reject_above=0.7)
    runtime = _score_runtime(score)
    decision = Inspector(runtime, thresholds).inspect(np.zeros((SIDE, SIDE), np.uint8), "p").decision
    if decision.verdict == "pass":
        assert np.isfinite(score) and 0.0 <= score < thresholds.pass_below


_RUNTIMES: dict[str, ModelRuntime] = {}


def _score_runtime(score: float) -> ModelRuntime:
    """The tiny model, answering `score` with a uniform map of the same value."""
    if "base" not in _RUNTIMES:
        import tempfile  # noqa: PLC0415

        folder = Path(tempfile.mkdtemp())
        model = segmentation_model(folder / "seg.onnx")
        write_card(model)
        _RUNTIMES["base"] = ModelRuntime.load(model)
    runtime = _RUNTIMES["base"]

    def infer(tensor: np.ndarray) -> dict[str, np.ndarray]:
        return {"defect_map": np.full((1, 1, 8, 8), score, np.float32), "score": np.array([score], np.float32)}

    runtime.infer = infer  # type: ignore[method-assign]
    return runtime


def test_run_command_decides_the_simulated_line_into_sqlite(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(
        '[monitoring]\nport = 0\n[camera]\nparts_per_minute = 3000\npool_size = 4\n[storage]\ndata_dir = "data"\n'
    )
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--parts", "40"])
    assert result.exit_code == 0, result.output
    assert "40 parts acquired" in result.output
    db = sqlite3.connect(tmp_path / "data" / "station.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    rows = db.execute("SELECT verdict, model_id, thresholds_version FROM decisions").fetchall()
    assert len(rows) == 40
    assert {r[1] for r in rows} == {file_sha256(StationConfig().model.path)}  # traceable to the model file
    assert {r[2] for r in rows} == {"flange_defect-1.0.0-default"}
    # The camera's features are kept once; every decision names them by id.
    snapshots = db.execute("SELECT id, body FROM camera_snapshots").fetchall()
    assert len(snapshots) == 1
    assert snapshots[0][1] == "{}"  # the simulated line has no node map
    assert db.execute("SELECT DISTINCT camera_snapshot FROM decisions").fetchall() == [(snapshots[0][0],)]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_an_unwritable_data_folder_stops_start_up_naming_it(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = tmp_path / "station.toml"
    config.write_text(f'[storage]\ndata_dir = "{blocker}/data"\n')
    result = CliRunner().invoke(main, ["run", "--config", str(config), "--parts", "1"])
    assert result.exit_code == 2
    assert "storage.data_dir" in result.output and str(blocker) in result.output


def _station_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "inspection.cli", "run", "--config", str(config)]


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_no_committed_decision(tmp_path: Path) -> None:
    """20 kills at random moments: the database stays intact and numbering never collides."""
    config = tmp_path / "station.toml"
    config.write_text(f"{QUIET}[camera]\nparts_per_minute = 12000\npool_size = 4\n[model]\nverify_golden = false\n")
    database = tmp_path / "data" / "station.db"
    rng = np.random.default_rng(11)
    seen: list[int] = []
    for _ in range(20):
        proc = subprocess.Popen(
            _station_command(config), cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _count(database) > (seen[-1] if seen else 0):
            time.sleep(0.02)  # wait until this run has committed something
        time.sleep(float(rng.uniform(0, 0.4)))
        before_kill = _count(database)
        proc.kill()
        proc.wait()
        after = _count(database)
        assert after >= before_kill  # what was committed before the kill is still there
        seen.append(after)
    db = sqlite3.connect(database)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    seqs = [r[0] for r in db.execute("SELECT seq FROM decisions ORDER BY seq")]
    parts = {r[0] for r in db.execute("SELECT part_id FROM decisions")}
    assert len(parts) == len(seqs) == seen[-1]
    assert seqs == sorted(set(seqs))
    assert seen == sorted(seen) and seen[0] > 0


def test_sigterm_during_start_up_leaves_a_clean_database(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text(f"{QUIET}[camera]\nparts_per_minute = 600\npool_size = 2\n")
    proc = subprocess.Popen(_station_command(config), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)  # loading the model and checking its golden images
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    database = tmp_path / "data" / "station.db"
    if database.exists():
        db = sqlite3.connect(database)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
    command = [*_station_command(config), "--parts", "3"]
    again = subprocess.run(command, check=False, cwd=tmp_path, capture_output=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert _count(database) >= 3


def _count(database: Path) -> int:
    if not database.exists():
        return 0
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5)
    try:
        return int(db.execute("SELECT COUNT(*) FROM decisions").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet
    finally:
        db.close()


class BrokenOnce(ScriptedSource):
    def read(self, timeout_s: float) -> SourceEvent | None:
        if self._next == 3 and not getattr(self, "broke", False):
            self.broke = True
            raise OSError("driver said no")
        return super().read(timeout_s)


def test_a_source_that_raises_is_a_fault_and_the_line_goes_on(tmp_path: Path, tiny_model: Path) -> None:
    store = DecisionStore(tmp_path / "station.db")
    options = StationOptions("test-station", 500.0, 16, one_part_per_frame=True)
    station = Station(
        options, BrokenOnce([frame(i, PASS_GREY) for i in range(6)]), [faulty_inspector(tiny_model, 0)], store
    )
    counts = station.run(threading.Event())
    store.close()
    assert counts.faults == 1
    assert counts.decided["pass"] == 6


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        (
            PolicyConfig(),
            {
                "pass": None,
                "reject": ("reject", "auto"),
                "uncertain": ("reject", "failsafe"),
                "failsafe": ("reject", "failsafe"),
            },
        ),
        (
            PolicyConfig(reject="confirm", uncertain="auto", failsafe_action="divert"),
            {
                "pass": None,
                "reject": ("divert", "failsafe"),
                "uncertain": ("reject", "auto"),
                "failsafe": ("divert", "failsafe"),
            },
        ),
    ],
)
def test_only_a_trusted_pass_goes_through_the_gate_untouched(
    tmp_path: Path, tiny_model: Path, policy: PolicyConfig, expected: dict[str, tuple[str, str] | None]
) -> None:
    greys = [PASS_GREY, REJECT_GREY, UNCERTAIN_GREY, RAISE]
    store = DecisionStore(tmp_path / "station.db")
    options = StationOptions("test-station", 500.0, 16, one_part_per_frame=True, policy=policy)
    actuator = LoggingActuator()
    source = ScriptedSource([frame(i, g) for i, g in enumerate(greys)])
    Station(options, source, [faulty_inspector(tiny_model, 0)], store, actuator=actuator).run(threading.Event())
    store.close()
    db = sqlite3.connect(tmp_path / "station.db")
    rows = db.execute("SELECT verdict, action, action_origin, captured_ns FROM decisions ORDER BY seq").fetchall()
    db.close()
    assert {verdict: (action, origin) if action else None for verdict, action, origin, _ in rows} == expected
    submitted = Counter(value for value in expected.values() if value is not None)
    assert actuator.counts == submitted


def test_a_database_from_another_schema_version_is_refused_by_name(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "station.db")
    old.execute("CREATE TABLE decisions (seq INTEGER PRIMARY KEY, part_id TEXT)")
    old.commit()
    old.close()
    with pytest.raises(ConfigError, match=r"station\.db.*schema version 0, this station writes 3; move it aside"):
        DecisionStore(tmp_path / "station.db")


def test_a_version_1_database_is_upgraded_in_place_and_keeps_its_numbering(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "station.db")
    old.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS dispositions")[0])
    old.execute(
        "INSERT INTO decisions (seq, part_id, station_id, verdict, reason, detail, regions, model_id, "
        "thresholds_version, latency_ms) VALUES (41, 's-41', 's', 'pass', '', '', '[]', 'm', 'v', '{}')"
    )
    old.execute("PRAGMA user_version = 1")
    old.commit()
    old.close()
    store = DecisionStore(tmp_path / "station.db")
    store.close()
    assert store.next_seq == 42
    db = sqlite3.connect(tmp_path / "station.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM camera_snapshots").fetchone()[0] == 0


def test_a_version_2_database_is_upgraded_and_a_snapshot_is_kept_once(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / "station.db")
    old.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS camera_snapshots")[0])
    old.execute("PRAGMA user_version = 2")
    old.commit()
    old.close()
    store = DecisionStore(tmp_path / "station.db")
    features = '{"PixelFormat": "Mono8", "Width": 800}'
    first, again = store.put_camera_snapshot(features), store.put_camera_snapshot(features)
    other = store.put_camera_snapshot('{"PixelFormat": "Mono8", "Width": 640}')
    store.close()
    assert first == again != other
    db = sqlite3.connect(tmp_path / "station.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 3
    assert db.execute("SELECT body FROM camera_snapshots WHERE id = ?", (first,)).fetchone() == (features,)
    assert db.execute("SELECT COUNT(*) FROM camera_snapshots").fetchone()[0] == 2
