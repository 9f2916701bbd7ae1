"""Reads a station config file and reports every invalid field with its key path and line."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from inspection.config.station import StationConfig
from inspection.errors import ConfigError


@dataclass(frozen=True)
class ConfigIssue:
    path: str  # dotted key path, e.g. "thresholds.pass_below"
    line: int | None  # 1-based line in the file, where the format lets us find it
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.path or '(root)'}: {self.message}"


class ConfigFileError(ConfigError):
    def __init__(self, file: Path, issues: list[ConfigIssue]) -> None:
        self.file = file
        self.issues = issues
        super().__init__(f"{file}: " + "; ".join(str(i) for i in issues))


def _yaml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Key path -> line, from YAML's node tree."""
    lines: dict[tuple[str, ...], int] = {}

    def walk(node: yaml.Node, prefix: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                path = (*prefix, str(key.value))
                lines[path] = key.start_mark.line + 1
                walk(value, path)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                lines[(*prefix, str(i))] = item.start_mark.line + 1
                walk(item, (*prefix, str(i)))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


_TOML_TABLE = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+)\s*=")


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """Key path -> line for tables and `key = value` lines (inline tables are found at their key)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if m := _TOML_TABLE.match(line):
            table = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            lines.setdefault(table, number)
        elif m := _TOML_KEY.match(line):
            key = tuple(p.strip().strip("\"'") for p in m.group(1).split("."))
            lines.setdefault((*table, *key), number)
    return lines


def _locate(lines: dict[tuple[str, ...], int], loc: tuple[str, ...]) -> int | None:
    """The line of the deepest part of `loc` that appears in the file."""
    for depth in range(len(loc), 0, -1):
        if loc[:depth] in lines:
            return lines[loc[:depth]]
    return None


def _parse(file: Path, text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    suffix = file.suffix.lower()
    try:
        if suffix == ".toml":
            return tomllib.loads(text), _toml_lines(text)
        if suffix in (".yaml", ".yml"):
            raw = yaml.safe_load(text)
            return ({} if raw is None else raw), _yaml_lines(text)  # only an empty file means "defaults"
    except tomllib.TOMLDecodeError as exc:
        # TOMLDecodeError gains `lineno` only in Python 3.14; before that the line is in the text.
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else None
        raise ConfigFileError(file, [ConfigIssue("", line, f"not valid TOML: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigFileError(file, [ConfigIssue("", line, f"not valid YAML: {exc}")]) from None
    raise ConfigFileError(file, [ConfigIssue("", None, f"unsupported config format {suffix!r}; use .toml or .yaml")])


def validate_config(
    raw: Any,
    base_dir: Path | None = None,
    lines: dict[tuple[str, ...], int] | None = None,
    file: Path = Path("<config>"),
) -> StationConfig:
    try:
        return StationConfig.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        issues = []
        for err in exc.errors():
            loc = tuple(str(p) for p in err["loc"])
            message = err["msg"]
            if err["type"] == "extra_forbidden":
                message = "unknown key (check its spelling and section)"
            elif "input" in err and not isinstance(err["input"], dict):
                message = f"{message} (got {err['input']!r})"
            issues.append(ConfigIssue(".".join(loc), _locate(lines or {}, loc), message))
        raise ConfigFileError(file, issues) from None


def load_config(file: Path | None) -> StationConfig:
    """The station config in `file`, or the embedded default when `file` is None."""
    if file is None:
        return StationConfig()
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(file, [ConfigIssue("", None, f"cannot read the file: {exc.strerror}")]) from None
    raw, lines = _parse(file, text)
    if not isinstance(raw, dict):
        raise ConfigFileError(file, [ConfigIssue("", 1, "the top level must be a table of sections")])
    return validate_config(raw, file.resolve().parent, lines, file)
