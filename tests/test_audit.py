"""The audit trail (DESIGN.md invariant 4): every edit, gap, truncation and splice is caught, on both engines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, delete, func, insert, select, text, update

from inspection.cli import main
from review_ui.audit import (
    GENESIS_HASH,
    AuditError,
    audit_events,
    audit_head,
    chain_hash,
    history,
    recent,
    record,
    verify,
)
from review_ui.db import Database, utc_now


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    database = Database(database_url)
    try:
        yield database.engine
    finally:
        database.close()


def _append(engine: Engine, count: int) -> None:
    for n in range(1, count + 1):
        with engine.begin() as connection:
            record(
                connection,
                actor=f"user{n % 2}",
                action="threshold_change",
                subject=f"station:{n % 3}",
                before={"reject": n / 10},
                after={"reject": (n + 1) / 10},
                reason=f"change {n}",
            )


def _problems(engine: Engine) -> list[tuple[int, str]]:
    return [(problem.seq, problem.kind) for problem in verify(engine).problems]


def _sql(engine: Engine, statement: str) -> None:
    with engine.begin() as connection:
        connection.execute(text(statement))


def _hash_of(engine: Engine, seq: int) -> str:
    with engine.connect() as connection:
        return str(connection.scalar(select(audit_events.c.hash).where(audit_events.c.seq == seq)))


def _forge(engine: Engine, seq: int, prev_hash: str) -> None:
    """Writes a row whose own hash is correct, as someone who knows the algorithm but not the chain would."""
    fields = {
        "seq": seq,
        "utc": utc_now(),
        "actor": "mallory",
        "action": "verdict",
        "subject": "part:42",
        "before": None,
        "after": '{"verdict":"pass"}',
        "reason": "looks fine",
    }
    digest = chain_hash(prev_hash, **fields)  # type: ignore[arg-type]
    with engine.begin() as connection:
        connection.execute(insert(audit_events).values(**fields, prev_hash=prev_hash, hash=digest))


def test_an_intact_chain_verifies_and_links_every_record(engine: Engine) -> None:
    _append(engine, 5)
    report = verify(engine, batch_size=2)
    assert (report.rows_checked, report.head_seq, report.problems, report.intact) == (5, 5, (), True)
    with engine.connect() as connection:
        events = list(reversed(recent(connection, 10)))
    assert [event.sequence for event in events] == [1, 2, 3, 4, 5]
    assert [event.prev_hash for event in events] == [GENESIS_HASH] + [event.hash for event in events[:-1]]


def test_an_empty_trail_verifies(engine: Engine) -> None:
    report = verify(engine)
    assert (report.rows_checked, report.head_seq, report.intact) == (0, 0, True)


def test_a_row_edited_with_sql_is_reported_edited_at_its_seq(engine: Engine) -> None:
    _append(engine, 5)
    _sql(engine, "UPDATE audit_events SET reason = 'nothing to see' WHERE seq = 3")
    assert _problems(engine) == [(3, "edited")]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("utc", "2020-01-01T00:00:00.000000Z"),
        ("actor", "mallory"),
        ("action", "login"),
        ("subject", "part:other"),
        ("before", '{"reject":0.9}'),
        ("after", None),
        ("reason", ""),
        ("prev_hash", "e" * 64),
    ],
)
def test_an_edit_to_any_field_is_reported(engine: Engine, column: str, value: str | None) -> None:
    _append(engine, 3)
    with engine.begin() as connection:
        connection.execute(update(audit_events).where(audit_events.c.seq == 2).values({column: value}))
    assert _problems(engine) == [(2, "edited")]


def test_a_deleted_middle_row_is_reported_deleted(engine: Engine) -> None:
    _append(engine, 5)
    _sql(engine, "DELETE FROM audit_events WHERE seq = 3")
    report = verify(engine)
    assert [(problem.seq, problem.kind) for problem in report.problems] == [(3, "deleted")]
    assert report.rows_checked == 4


@pytest.mark.parametrize(("keep", "first_missing"), [(3, 4), (0, 1)])
def test_deleted_newest_rows_are_caught_by_the_head(engine: Engine, keep: int, first_missing: int) -> None:
    _append(engine, 5)
    _sql(engine, f"DELETE FROM audit_events WHERE seq > {keep}")
    problems = verify(engine).problems
    assert [(problem.seq, problem.kind) for problem in problems] == [(first_missing, "deleted")]
    assert "audit_head sealed seq 5" in problems[0].detail


def test_a_deleted_head_is_reported(engine: Engine) -> None:
    _append(engine, 2)
    _sql(engine, "DELETE FROM audit_head")
    assert _problems(engine) == [(0, "deleted")]
    with engine.begin() as connection, pytest.raises(AuditError, match="audit_head has no row"):
        record(connection, actor="a", action="login", subject="user:a")


def test_a_spliced_row_that_links_backwards_is_reported_inserted(engine: Engine) -> None:
    _append(engine, 5)
    _sql(engine, "DELETE FROM audit_events WHERE seq = 3")
    _forge(engine, 3, _hash_of(engine, 2))
    assert _problems(engine) == [(4, "inserted")]


def test_a_spliced_row_that_links_nowhere_is_reported_inserted(engine: Engine) -> None:
    _append(engine, 5)
    _sql(engine, "DELETE FROM audit_events WHERE seq = 3")
    _forge(engine, 3, "f" * 64)
    assert _problems(engine) == [(3, "inserted"), (4, "inserted")]


def test_a_replaced_newest_row_is_caught_by_the_head(engine: Engine) -> None:
    _append(engine, 5)
    _sql(engine, "DELETE FROM audit_events WHERE seq = 5")
    _forge(engine, 5, _hash_of(engine, 4))
    assert _problems(engine) == [(5, "inserted")]


def test_a_row_appended_behind_the_heads_back_is_reported_inserted(engine: Engine) -> None:
    _append(engine, 5)
    _forge(engine, 6, _hash_of(engine, 5))
    report = verify(engine)
    assert [(problem.seq, problem.kind) for problem in report.problems] == [(6, "inserted")]
    assert report.head_seq == 5


def test_problems_past_the_cap_are_counted_not_kept(engine: Engine) -> None:
    _append(engine, 6)
    _sql(engine, "UPDATE audit_events SET actor = 'x'")
    report = verify(engine, max_problems=2)
    assert (len(report.problems), report.problems_found) == (2, 6)


def test_before_and_after_round_trip(engine: Engine) -> None:
    before = {"role": "inspector", "limits": {"reject": 0.25, "uncertain": [0.1, 0.2]}, "active": True, "note": None}
    after = {"role": "supervisor", "name": "Zoë Ångström", "count": 3}
    with engine.begin() as connection:
        written = record(
            connection, actor="admin", action="role_change", subject="user:zoe", before=before, after=after, reason="r"
        )
    with engine.connect() as connection:
        (read,) = history(connection, "user:zoe")
    assert read == written
    assert (read.before, read.after, read.reason, read.actor) == (before, after, "r", "admin")
    assert verify(engine).intact


def test_history_keeps_one_subject_in_sequence_order(engine: Engine) -> None:
    _append(engine, 9)
    with engine.connect() as connection:
        events = history(connection, "station:1")
    assert [event.sequence for event in events] == [1, 4, 7]


def test_a_state_that_is_not_json_is_refused_with_its_action(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(AuditError, match="role_change after"):
        record(connection, actor="a", action="role_change", subject="user:a", after={"when": object()})
    assert verify(engine).rows_checked == 0


def test_a_record_rolls_back_with_its_callers_change(engine: Engine) -> None:
    with pytest.raises(RuntimeError), engine.begin() as connection:
        record(connection, actor="a", action="login", subject="user:a")
        raise RuntimeError("the audited change failed")
    with engine.begin() as connection:
        event = record(connection, actor="a", action="login", subject="user:a")
    assert (event.sequence, event.prev_hash) == (1, GENESIS_HASH)
    assert verify(engine).rows_checked == 1


def test_concurrent_appenders_build_one_unbroken_chain(engine: Engine) -> None:
    threads, each = 4, 50
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def append(worker: int) -> None:
        try:
            start.wait()
            for n in range(each):
                with engine.begin() as connection:
                    record(connection, actor=f"worker{worker}", action="verdict", subject=f"part:{worker}-{n}")
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=append, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert errors == []
    report = verify(engine)
    assert (report.rows_checked, report.head_seq, report.problems) == (threads * each, threads * each, ())
    with engine.connect() as connection:
        assert connection.scalar(select(func.max(audit_events.c.seq))) == threads * each
        assert connection.scalar(select(audit_head.c.seq)) == threads * each


def _config(tmp_path: Path, database_url: str) -> Path:
    file = tmp_path / "station.toml"
    body = f'[storage]\ndata_dir = "{tmp_path}"\n'
    if not database_url.startswith("sqlite"):
        body += f'\n[review]\ndatabase_url = "{database_url}"\n'
    file.write_text(body, encoding="utf-8")
    return file


def _cli(config: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["audit", "verify", "--config", str(config)])
    return result.exit_code, result.output


def test_cli_exits_0_for_an_intact_trail(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _append(engine, 3)
    code, output = _cli(_config(tmp_path, database_url))
    assert code == 0, output
    assert "intact" in output
    assert "3 records" in output


def test_cli_exits_1_and_names_each_problem(engine: Engine, database_url: str, tmp_path: Path) -> None:
    _append(engine, 4)
    _sql(engine, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 2")
    with engine.begin() as connection:
        connection.execute(delete(audit_events).where(audit_events.c.seq == 4))
    code, output = _cli(_config(tmp_path, database_url))
    assert code == 1, output
    assert "edited" in output
    assert "deleted" in output
    assert "2 problems" in output


def test_cli_exits_2_when_the_database_does_not_exist(tmp_path: Path) -> None:
    code, output = _cli(_config(tmp_path, "sqlite"))
    assert code == 2, output
    assert "review.db does not exist" in output
    assert not (tmp_path / "review.db").exists()


def test_cli_exits_2_when_the_database_is_unreachable(tmp_path: Path) -> None:
    code, output = _cli(_config(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/nothing"))
    assert code == 2, output
    assert "cannot open" in output


def test_cli_exits_2_for_a_bad_config(tmp_path: Path) -> None:
    file = tmp_path / "station.toml"
    file.write_text("[storage]\nno_such_setting = 1\n", encoding="utf-8")
    code, _ = _cli(file)
    assert code == 2
