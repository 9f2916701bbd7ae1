"""`inspection model ...` and `inspection sim render` as a user runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from inspection.cli import main
from inspection.model_card import card_path_for, load_card, save_card
from inspection.paths import BUNDLED_MODEL, SAMPLE_IMAGES


@pytest.fixture()
def bundled_copy(tmp_path: Path) -> Path:
    """A private copy of the bundled model folder that a test may damage."""
    folder = tmp_path / "model"
    shutil.copytree(BUNDLED_MODEL.parent, folder)
    return folder / BUNDLED_MODEL.name


def test_model_info_prints_size_flops_and_latency() -> None:
    result = CliRunner().invoke(main, ["model", "info", "--runs", "30"])
    assert result.exit_code == 0, result.output
    for field in ("parameters", "FLOPs / image", "latency median", "latency p99", "model id"):
        assert field in result.output


def test_model_verify_passes_on_the_bundled_model() -> None:
    result = CliRunner().invoke(main, ["model", "verify"])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(load_card(card_path_for(BUNDLED_MODEL)).golden)


def test_model_verify_fails_with_exit_1_when_a_golden_score_drifts(bundled_copy: Path) -> None:
    card = load_card(card_path_for(bundled_copy))
    first = card.golden[0]
    drifted = first.model_copy(update={"expected_score": 1.0 - first.expected_score})
    save_card(card.model_copy(update={"golden": (drifted, *card.golden[1:])}), card_path_for(bundled_copy))
    result = CliRunner().invoke(main, ["model", "verify", "--model", str(bundled_copy)])
    assert result.exit_code == 1
    assert f"DRIFT {first.image}" in result.output


def test_truncated_model_exits_2_naming_the_file(bundled_copy: Path) -> None:
    bundled_copy.write_bytes(bundled_copy.read_bytes()[:1000])
    result = CliRunner().invoke(main, ["model", "info", "--model", str(bundled_copy)])
    assert result.exit_code == 2
    assert str(bundled_copy) in result.output
    assert "sha256" in result.output  # the card's hash no longer matches the damaged file


def test_model_eval_on_sample_images_reports_metrics() -> None:
    result = CliRunner().invoke(main, ["model", "eval", str(SAMPLE_IMAGES), "--json", "--quiet"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    good = len(list((SAMPLE_IMAGES / "good").glob("*.png")))
    defect = len(list((SAMPLE_IMAGES / "defect").glob("*.png")))
    assert (metrics["good"], metrics["defect"]) == (good, defect)
    assert 0.0 <= metrics["auroc"] <= 1.0
    assert metrics["pixel_iou"] > 0.0


def test_sim_render_writes_a_labelled_folder_that_eval_reads(tmp_path: Path) -> None:
    out = tmp_path / "parts"
    result = CliRunner().invoke(main, ["sim", "render", str(out), "--count", "6", "--seed", "1900000000"])
    assert result.exit_code == 0, result.output
    rows = (out / "labels.csv").read_text().splitlines()[1:]
    assert len(rows) == 6
    for row in rows:
        path, label, kinds, _ = row.split(",")
        assert (out / path).is_file() and path.startswith(label)
        assert (label == "defect") == bool(kinds)
        if label == "defect":
            assert (out / "defect" / "masks" / Path(path).name).is_file()
