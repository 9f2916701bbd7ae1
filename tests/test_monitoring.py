"""The station's /metrics and /healthz while it runs, and `inspection status`."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from inspection.cli import main
from inspection.config import StationConfig, load_config
from inspection.errors import ConfigError
from inspection.station.build import run_station
from inspection.station.endpoint import Endpoint
from inspection.station.store import DecisionStore


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def health(port: int) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


@pytest.fixture
def config(tmp_path: Path) -> StationConfig:
    file = tmp_path / "station.toml"
    file.write_text(
        "[camera]\nparts_per_minute = 3000\npool_size = 4\n[model]\nverify_golden = false\n"
        '[monitoring]\nport = 0\n[storage]\ndata_dir = "data"\n[link]\nserver = ""\n'
    )
    return load_config(file)


def test_metrics_balance_and_health_is_ok_while_the_station_runs(
    config: StationConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoints: list[Endpoint] = []
    real_enter = Endpoint.__enter__

    def remember(self: Endpoint) -> Endpoint:
        endpoints.append(self)
        return real_enter(self)

    monkeypatch.setattr(Endpoint, "__enter__", remember)
    stop = threading.Event()
    runner = threading.Thread(target=run_station, args=(config, stop))
    runner.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not endpoints:
            time.sleep(0.05)
        port = endpoints[0].port
        time.sleep(1.0)
        samples = scrape(port)
        status, body = health(port)
        stage = samples[("inspection_stage_latency_seconds_count", (("stage", "capture_to_decision"),))]
    finally:
        stop.set()
        runner.join()
    acquired = samples[("inspection_frames_acquired_total", ())]
    decided = sum(v for (name, _), v in samples.items() if name == "inspection_parts_decided_total")
    in_flight = samples[("inspection_parts_in_flight", ())]
    assert acquired >= 20
    assert acquired == decided + in_flight  # one consistent snapshot
    assert stage >= decided - 1  # every decision observed (the scrape may land between the two)
    info = [k for k in samples if k[0] == "inspection_station_info"]
    assert info and dict(info[0][1])["thresholds_version"] == "flange_defect-1.0.0-default"
    assert status == 200, body
    assert body == {
        "camera": "ok",
        "model": "ok",
        "store": "ok",
        "link": "not configured",
        "image": "not configured",
        "gate": "ok",
        "healthy": True,
    }


def test_status_says_unhealthy_when_a_store_cannot_commit(tmp_path: Path) -> None:
    from inspection.station.accounting import Accounting  # noqa: PLC0415
    from inspection.station.monitoring import StationMonitor  # noqa: PLC0415

    problem = {"store": "cannot commit 3 decisions to station.db: database or disk is full"}
    monitor = StationMonitor(Accounting(), {"station_id": "s"}, lambda: 0, lambda: problem["store"], 60.0)
    with Endpoint(monitor, "127.0.0.1", 0) as endpoint:
        url = f"http://127.0.0.1:{endpoint.port}"
        result = CliRunner().invoke(main, ["status", "--url", url])
        assert result.exit_code == 1
        assert "disk is full" in result.output
        problem["store"] = None  # type: ignore[assignment]
        assert CliRunner().invoke(main, ["status", "--url", url]).exit_code == 0
    gone = CliRunner().invoke(main, ["status", "--url", url])
    assert gone.exit_code == 2
    assert "no station answers" in gone.output


def test_status_names_a_gate_that_cannot_reject() -> None:
    from inspection.station.accounting import Accounting  # noqa: PLC0415
    from inspection.station.monitoring import StationMonitor  # noqa: PLC0415

    monitor = StationMonitor(Accounting(), {"station_id": "s"}, lambda: 0, lambda: None, 60.0)
    state: dict[str, str | None] = {"why": "bin_full"}
    monitor.gate_state = lambda: state["why"]
    with Endpoint(monitor, "127.0.0.1", 0) as endpoint:
        url = f"http://127.0.0.1:{endpoint.port}"
        result = CliRunner().invoke(main, ["status", "--url", url])
        assert result.exit_code == 1
        assert "  gate: cannot reject: bin_full" in result.output
        state["why"] = None
        result = CliRunner().invoke(main, ["status", "--url", url])
        assert "  gate: ok" in result.output


def test_a_busy_port_is_a_start_up_error_naming_the_setting() -> None:
    from inspection.station.accounting import Accounting  # noqa: PLC0415
    from inspection.station.monitoring import StationMonitor  # noqa: PLC0415

    monitor = StationMonitor(Accounting(), {}, lambda: 0, lambda: None, 1.0)
    busy = r"monitoring\.port: cannot listen"
    with Endpoint(monitor, "127.0.0.1", 0) as first, pytest.raises(ConfigError, match=busy):
        Endpoint(monitor, "127.0.0.1", first.port)


def test_a_failed_commit_is_retried_and_reported(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "station.db")
    store._db.execute("CREATE TRIGGER refuse BEFORE INSERT ON decisions BEGIN SELECT RAISE(ABORT, 'disk is full'); END")
    from inspection.contracts import Decision  # noqa: PLC0415

    decision = Decision(
        part_id="s-1",
        station_id="s",
        verdict="pass",
        reason="",
        detail="",
        score=0.1,
        model_id="m",
        thresholds_version="t",
    )
    store.put(1, decision, None, 0, "")
    deadline = time.monotonic() + 5
    while store.problem is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert store.problem is not None and "disk is full" in store.problem
    store._db.execute("DROP TRIGGER refuse")
    store.close()
    assert store.committed == 1 and store.problem is None
