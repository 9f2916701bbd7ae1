"""The station config: defaults, loading TOML and YAML, located errors, `config check`, thresholds."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import ValidationError

from inspection.cli import main
from inspection.config import StationConfig, load_config, validate_config
from inspection.config.loader import ConfigFileError, ConfigIssue
from inspection.config.station import ThresholdsConfig
from inspection.errors import ConfigError
from inspection.model_card import Roi, Thresholds, card_path_for, load_card
from inspection.paths import BUNDLED_MODEL

GOOD_TOML = """\
# a station on line 3
station_id = "line3-cam.A"

[model]
path = "models/flange.onnx"
card = "cards/flange.card.json"
intra_op_threads = 4
graph_optimization = "basic"
verify_golden = false

[preprocess.roi]
x = 0.1
y = 0.2
width = 0.5
height = 0.6

[thresholds]
version = "2024-06-line3"
pass_below = 0.2
reject_above = 0.7
region_threshold = 0.4

[storage]
data_dir = "records"
"""

GOOD_YAML = """\
# a station on line 3
station_id: line3-cam.A
model:
  path: models/flange.onnx
  card: cards/flange.card.json
  intra_op_threads: 4
  graph_optimization: basic
  verify_golden: false
preprocess:
  roi: {x: 0.1, y: 0.2, width: 0.5, height: 0.6}
thresholds:
  version: 2024-06-line3
  pass_below: 0.2
  reject_above: 0.7
  region_threshold: 0.4
storage:
  data_dir: records
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def issues_of(path: Path) -> list[ConfigIssue]:
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert info.value.file == path
    assert info.value.issues, "a ConfigFileError must carry at least one issue"
    return info.value.issues


def by_path(issues: list[ConfigIssue]) -> dict[str, ConfigIssue]:
    found = {i.path: i for i in issues}
    assert len(found) == len(issues), f"two issues share a key path: {issues}"
    return found


# --- defaults -------------------------------------------------------------------------------------


def test_default_config_is_valid_and_uses_the_bundled_model() -> None:
    cfg = StationConfig()
    assert cfg.model.path == BUNDLED_MODEL
    assert cfg.model.card is None
    assert cfg.thresholds == ThresholdsConfig()
    assert cfg.preprocess.roi is None
    # The defaults survive a round trip through validation, i.e. they satisfy every rule.
    again = StationConfig.model_validate(cfg.model_dump())
    assert again == cfg


def test_load_config_without_a_file_is_the_default() -> None:
    assert load_config(None) == StationConfig()


def test_config_error_is_a_station_config_error() -> None:
    assert issubclass(ConfigFileError, ConfigError)


# --- valid files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "text"), [("station.toml", GOOD_TOML), ("station.yaml", GOOD_YAML)])
def test_valid_file_loads_with_every_value(tmp_path: Path, name: str, text: str) -> None:
    folder = tmp_path / "etc" / "station"
    cfg = load_config(write(folder, name, text))
    assert cfg.station_id == "line3-cam.A"
    assert cfg.model.intra_op_threads == 4
    assert cfg.model.graph_optimization == "basic"
    assert cfg.model.verify_golden is False
    assert cfg.preprocess.roi == Roi(x=0.1, y=0.2, width=0.5, height=0.6)
    assert cfg.thresholds == ThresholdsConfig(
        version="2024-06-line3", pass_below=0.2, reject_above=0.7, region_threshold=0.4
    )
    # Relative paths are relative to the config file's folder, not to the working directory.
    assert cfg.model.path == folder.resolve() / "models" / "flange.onnx"
    assert cfg.model.card == folder.resolve() / "cards" / "flange.card.json"
    assert cfg.storage.data_dir == folder.resolve() / "records"


def test_toml_and_yaml_give_the_same_config(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "a.toml", GOOD_TOML)) == load_config(write(tmp_path, "a.yml", GOOD_YAML))


def test_relative_paths_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "cfg", "s.toml", '[model]\npath = "m.onnx"\n')
    monkeypatch.chdir(tmp_path)
    cfg = load_config(Path("cfg") / "s.toml")
    assert cfg.model.path == (tmp_path / "cfg" / "m.onnx").resolve()
    assert cfg.model.path.is_absolute()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere" / "model.onnx"
    cfg = load_config(write(tmp_path / "cfg", "s.toml", f'[model]\npath = "{target.as_posix()}"\n'))
    assert cfg.model.path == target


def test_empty_files_give_the_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "empty.toml", "")).thresholds == ThresholdsConfig()
    cfg = load_config(write(tmp_path, "empty.yaml", "# nothing here\n"))
    assert cfg.station_id == StationConfig().station_id
    assert cfg.model.path == BUNDLED_MODEL


# --- invalid files: TOML --------------------------------------------------------------------------


def test_unknown_key_is_named_with_its_path_and_line_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", 'station_id = "s1"\n\n[thresholds]\nversion = "v1"\npass_belw = 0.1\n')
    (issue,) = issues_of(path)
    assert issue.path == "thresholds.pass_belw"
    assert issue.line == 5
    assert "unknown key" in issue.message


def test_wrong_type_is_named_with_its_path_and_line_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", '[model]\npath = "m.onnx"\nintra_op_threads = "four"\n')
    (issue,) = issues_of(path)
    assert issue.path == "model.intra_op_threads"
    assert issue.line == 3
    assert "'four'" in issue.message  # the offending value is quoted back


def test_inverted_thresholds_are_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path, "s.toml", 'station_id = "s1"\n[thresholds]\nversion = "v"\npass_below = 0.8\nreject_above = 0.2\n'
    )
    (issue,) = issues_of(path)
    assert issue.path == "thresholds"
    assert issue.line == 2  # the [thresholds] table
    assert "pass_below" in issue.message
    assert "reject_above" in issue.message


def test_equal_thresholds_are_allowed(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", '[thresholds]\nversion = "v"\npass_below = 0.5\nreject_above = 0.5\n')
    cfg = load_config(path)
    assert cfg.thresholds.pass_below == cfg.thresholds.reject_above == 0.5


@pytest.mark.parametrize(
    "body",
    ["pass_below = 0.1\n", "reject_above = 0.9\n", "region_threshold = 0.3\n", 'version = ""\npass_below = 0.1\n'],
)
def test_threshold_overrides_need_a_version(tmp_path: Path, body: str) -> None:
    path = write(tmp_path, "s.toml", "[thresholds]\n" + body)
    (issue,) = issues_of(path)
    assert issue.path == "thresholds"
    assert issue.line == 1
    assert "version" in issue.message


def test_a_version_alone_is_fine(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "s.toml", '[thresholds]\nversion = "v"\n')).thresholds.version == "v"


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("thresholds", "pass_below", "-0.1"),
        ("thresholds", "pass_below", "1.5"),
        ("thresholds", "reject_above", "1.01"),
        ("thresholds", "region_threshold", "0.0"),
        ("thresholds", "region_threshold", "1.0"),
        ("model", "intra_op_threads", "0"),
        ("model", "intra_op_threads", "65"),
    ],
)
def test_out_of_range_values_are_rejected(tmp_path: Path, section: str, key: str, value: str) -> None:
    extra = 'version = "v"\n' if section == "thresholds" else ""
    path = write(tmp_path, "s.toml", f"# comment\n[{section}]\n{extra}{key} = {value}\n")
    (issue,) = issues_of(path)
    assert issue.path == f"{section}.{key}"
    assert issue.line == (4 if extra else 3)
    assert value in issue.message


def test_bad_station_id_and_enum_are_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", 'station_id = "has spaces"\n[model]\ngraph_optimization = "max"\n')
    issues = by_path(issues_of(path))
    assert set(issues) == {"station_id", "model.graph_optimization"}
    assert issues["station_id"].line == 1
    assert issues["model.graph_optimization"].line == 3


def test_roi_past_the_frame_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", "\n[preprocess.roi]\nx = 0.6\ny = 0.0\nwidth = 0.5\nheight = 1.0\n")
    (issue,) = issues_of(path)
    assert issue.path == "preprocess.roi"
    assert issue.line == 2


def test_every_error_in_a_toml_file_is_reported_with_its_line(tmp_path: Path) -> None:
    text = """\
station_id = "ok"

[model]
path = "m.onnx"
intra_op_threads = 0
colour = "red"

[thresholds]
version = "v2"
pass_below = "low"
reject_above = 2.0

[storage]
data_dir = 5
"""
    issues = by_path(issues_of(write(tmp_path, "s.toml", text)))
    assert {path: issue.line for path, issue in issues.items()} == {
        "model.intra_op_threads": 5,
        "model.colour": 6,
        "thresholds.pass_below": 10,
        "thresholds.reject_above": 11,
        "storage.data_dir": 14,
    }


def test_dotted_keys_and_inline_tables_are_located(tmp_path: Path) -> None:
    text = 'station_id = "ok"\nmodel.intra_op_threads = 0\nthresholds = { version = "v", pass_below = 2 }\n'
    issues = by_path(issues_of(write(tmp_path, "s.toml", text)))
    assert issues["model.intra_op_threads"].line == 2
    assert issues["thresholds.pass_below"].line == 3


def test_issue_text_names_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", '[thresholds]\nversion = "v"\npass_belw = 0.1\n')
    with pytest.raises(ConfigFileError) as info:
        load_config(path)
    assert str(info.value.issues[0]).startswith("line 3: thresholds.pass_belw: ")
    assert str(path) in str(info.value)


def test_malformed_toml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "s.toml", 'station_id = "ok"\n\n[model\npath = "m.onnx"\n')
    (issue,) = issues_of(path)
    assert issue.path == ""
    assert "not valid TOML" in issue.message
    # The parser knows the line ("at line 3"); the issue must carry it like a YAML parse error does.
    assert issue.line == 3


# --- invalid files: YAML --------------------------------------------------------------------------


def test_every_error_in_a_yaml_file_is_reported_with_its_line(tmp_path: Path) -> None:
    text = """\
station_id: ok
# the model
model:
  path: m.onnx
  intra_op_threads: many
  bogus: 1
thresholds:
  version: v2

  pass_belw: 0.1
  reject_above: -1
"""
    issues = by_path(issues_of(write(tmp_path, "s.yaml", text)))
    assert {path: issue.line for path, issue in issues.items()} == {
        "model.intra_op_threads": 5,
        "model.bogus": 6,
        "thresholds.pass_belw": 10,
        "thresholds.reject_above": 11,
    }
    assert "unknown key" in issues["model.bogus"].message
    assert "'many'" in issues["model.intra_op_threads"].message


def test_inverted_thresholds_in_yaml_point_at_the_section(tmp_path: Path) -> None:
    text = "station_id: ok\nthresholds:\n  version: v\n  pass_below: 0.9\n  reject_above: 0.1\n"
    (issue,) = issues_of(write(tmp_path, "s.yml", text))
    assert issue.path == "thresholds"
    assert issue.line == 2


def test_malformed_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "s.yaml", "station_id: ok\nmodel:\n  path: m.onnx\n   bad: : x\n")
    (issue,) = issues_of(path)
    assert issue.path == ""
    assert "not valid YAML" in issue.message
    assert issue.line == 4


# --- invalid files: shape of the file -------------------------------------------------------------


@pytest.mark.parametrize("text", ["- model\n- thresholds\n", "just a sentence\n", "[]\n", "0\n"])
def test_top_level_must_be_a_table(tmp_path: Path, text: str) -> None:
    (issue,) = issues_of(write(tmp_path, "s.yaml", text))
    assert issue.path == ""
    assert "top level" in issue.message


@pytest.mark.parametrize("name", ["s.json", "s.ini", "station"])
def test_unsupported_suffix_is_rejected(tmp_path: Path, name: str) -> None:
    (issue,) = issues_of(write(tmp_path, name, "{}\n"))
    assert "unsupported config format" in issue.message
    assert ".toml" in issue.message
    assert ".yaml" in issue.message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    (issue,) = issues_of(tmp_path / "absent.toml")
    assert "cannot read" in issue.message


def test_validate_config_without_lines_still_names_paths() -> None:
    with pytest.raises(ConfigFileError) as info:
        validate_config({"thresholds": {"version": "v", "pass_below": 3}})
    (issue,) = info.value.issues
    assert issue.path == "thresholds.pass_below"
    assert issue.line is None
    assert not str(issue).startswith("line")


# --- `inspection config check` --------------------------------------------------------------------


def test_config_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "bad.toml",
        '[model]\nintra_op_threads = 0\n[thresholds]\nversion = "v"\npass_belw = 0.1\n',
    )
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "2 problem(s)" in result.output
    assert "line 2: model.intra_op_threads" in result.output
    assert "line 5: thresholds.pass_belw" in result.output


def test_config_check_reports_a_yaml_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "model:\n  verify_golden: perhaps\n")
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert "line 2: model.verify_golden" in result.output


def test_config_check_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["config", "check", str(tmp_path / "absent.toml")])
    assert result.exit_code == 2, result.output
    assert "cannot read" in result.output


@pytest.mark.parametrize(("name", "text"), [("good.toml", GOOD_TOML), ("good.yaml", GOOD_YAML)])
def test_config_check_of_a_good_file_exits_0(tmp_path: Path, name: str, text: str) -> None:
    path = write(tmp_path, name, text)
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output
    assert "line3-cam.A" in result.output


# --- ThresholdsConfig.resolve ---------------------------------------------------------------------

CARD_THRESHOLDS = Thresholds(version="card-1", pass_below=0.3, reject_above=0.6, region_threshold=0.5, min_region_px=9)
CARD = load_card(card_path_for(BUNDLED_MODEL)).model_copy(update={"thresholds": CARD_THRESHOLDS})


def test_resolve_without_overrides_is_the_card() -> None:
    assert ThresholdsConfig().resolve(CARD) == CARD_THRESHOLDS


def test_resolve_merges_overrides_over_the_card() -> None:
    resolved = ThresholdsConfig(version="site-7", reject_above=0.8, region_threshold=0.25).resolve(CARD)
    assert resolved == Thresholds(
        version="site-7", pass_below=0.3, reject_above=0.8, region_threshold=0.25, min_region_px=9
    )


def test_resolve_rejects_a_pair_inverted_by_an_override() -> None:
    override = ThresholdsConfig(version="site-7", pass_below=0.7)  # valid alone, above the card's 0.6
    with pytest.raises(ValidationError, match="pass_below"):
        override.resolve(CARD)
    with pytest.raises(ValidationError, match="pass_below"):
        ThresholdsConfig(version="x", reject_above=0.1).resolve(CARD)


def test_thresholds_config_rejects_an_inverted_pair_directly() -> None:
    with pytest.raises(ValidationError, match="must be <="):
        ThresholdsConfig(version="v", pass_below=0.9, reject_above=0.1)
