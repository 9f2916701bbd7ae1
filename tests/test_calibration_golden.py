"""Golden samples: the station's whole decision chain must judge known parts right before production."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from calibration.golden_set import judge_golden
from inspection.cli import main
from inspection.config import StationConfig, load_config
from inspection.errors import GoldenSampleError
from inspection.factory import build_inspector
from inspection.station.build import run_station

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
# A golden set is curated: clear examples of each class (part-5000002 is a borderline good part, left out).
GOOD = ("part-5000000.png", "part-5000001.png", "part-5000003.png", "part-5000004.png")
BAD = ("part-5000100.png", "part-5000101.png", "part-5000102.png", "part-5000103.png")


def golden_folder(root: Path, *, misfiled: int = 0) -> Path:
    """Four good and four bad sample images; `misfiled` bad ones are filed as good (a wrong golden set)."""
    folder = root / "golden"
    for label in ("good", "defect"):
        (folder / label).mkdir(parents=True)
    for name in GOOD:
        shutil.copy(SAMPLES / "good" / name, folder / "good" / name)
    for i, name in enumerate(BAD):
        shutil.copy(SAMPLES / "defect" / name, folder / ("good" if i < misfiled else "defect") / name)
    return folder


def write_config(tmp_path: Path, folder: Path, mode: str) -> Path:
    config = tmp_path / "station.toml"
    config.write_text(
        f'mode = "{mode}"\n'
        f'[storage]\ndata_dir = "{(tmp_path / "data").as_posix()}"\n'
        '[monitoring]\nport = 0\n[link]\nserver = ""\n'
        f'[calibration.golden]\nfolder = "{folder.as_posix()}"\n',
        encoding="utf-8",
    )
    return config


def test_a_right_golden_set_is_judged_right_with_its_clearances(tmp_path: Path) -> None:
    inspector = build_inspector(StationConfig())
    report = judge_golden(golden_folder(tmp_path), inspector)
    assert report.ok, [str(j) for j in report.misjudged]
    assert {j.expected for j in report.judgements} == {"pass", "reject"}
    t = inspector.thresholds
    for j in report.judgements:
        assert j.score is not None
        expected = t.pass_below - j.score if j.expected == "pass" else j.score - t.reject_above
        assert j.clearance is not None and j.clearance == pytest.approx(expected)
        assert j.clearance >= 0


def test_a_misjudged_sample_is_named_with_how_far_it_missed(tmp_path: Path) -> None:
    folder = golden_folder(tmp_path, misfiled=1)
    inspector = build_inspector(StationConfig())
    report = judge_golden(folder, inspector)
    assert not report.ok
    (miss,) = report.misjudged
    assert miss.image.startswith("good/") and miss.expected == "pass" and miss.verdict != "pass"
    assert miss.score is not None and miss.clearance is not None
    assert miss.clearance == pytest.approx(inspector.thresholds.pass_below - miss.score)
    assert miss.clearance < 0
    assert f"expected pass, judged {miss.verdict}" in str(miss)
    assert f"{miss.score - inspector.thresholds.pass_below:.3f} above pass_below" in str(miss)


def test_a_margin_fails_samples_that_are_right_only_by_a_little(tmp_path: Path) -> None:
    inspector = build_inspector(StationConfig())
    folder = golden_folder(tmp_path)
    right = judge_golden(folder, inspector)
    closest = min(j.clearance or 0.0 for j in right.judgements)
    assert not judge_golden(folder, inspector, margin=closest + 1e-3).ok
    assert judge_golden(folder, inspector, margin=max(0.0, closest - 1e-3)).ok


def test_verify_golden_exits_0_and_keeps_a_report(tmp_path: Path) -> None:
    folder = golden_folder(tmp_path)
    result = CliRunner().invoke(main, ["verify", "golden", str(folder), "--out", str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    assert "golden check passed: 8 of 8" in result.output
    (report,) = (tmp_path / "reports").glob("golden-*.json")
    body = json.loads(report.read_text())
    assert body["ok"] is True and len(body["judgements"]) == 8
    assert report.with_suffix(".png").stat().st_size > 1000


def test_verify_golden_exits_1_naming_the_misjudged_sample(tmp_path: Path) -> None:
    folder = golden_folder(tmp_path, misfiled=2)
    result = CliRunner().invoke(main, ["verify", "golden", str(folder), "--out", str(tmp_path / "reports")])
    assert result.exit_code == 1, result.output
    assert "golden check FAILED: 6 of 8" in result.output
    assert result.output.count("MISJUDGED") == 2


def test_verify_golden_without_a_folder_says_where_to_set_one(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["verify", "golden"])
    assert result.exit_code == 2
    assert "calibration.golden.folder" in result.output


def test_a_golden_set_without_bad_samples_is_refused(tmp_path: Path) -> None:
    folder = golden_folder(tmp_path)
    shutil.rmtree(folder / "defect")
    result = CliRunner().invoke(main, ["verify", "golden", str(folder)])
    assert result.exit_code == 2
    assert "known bad ones (in defect/)" in result.output


def test_production_needs_a_golden_set() -> None:
    with pytest.raises(ValidationError, match=r"calibration\.golden"):
        StationConfig.model_validate({"mode": "production"})


def test_production_refuses_to_start_on_a_misjudged_golden_sample(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, golden_folder(tmp_path, misfiled=1), "production"))
    with pytest.raises(GoldenSampleError, match=r"7 of 8 golden samples judged right.*expected pass.*report:"):
        run_station(config, threading.Event(), max_parts=1)
    assert not (tmp_path / "data" / "station.db").exists()  # refused before anything was opened
    assert list((tmp_path / "data" / "golden").glob("golden-*.json"))  # the failed check is kept


def test_production_starts_when_the_golden_set_is_judged_right(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, golden_folder(tmp_path), "production"))
    snapshot = run_station(config, threading.Event(), max_parts=3)
    assert snapshot.acquired == 3


def test_commissioning_starts_despite_a_miss_and_says_so(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = load_config(write_config(tmp_path, golden_folder(tmp_path, misfiled=1), "commissioning"))
    snapshot = run_station(config, threading.Event(), max_parts=2)
    assert snapshot.acquired == 2
    assert "commissioning mode starts although the golden check failed" in caplog.text
