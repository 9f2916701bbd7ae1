"""`inspection users`: manage the review server's web users (first admin, roles, disabling) from the shell."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import click

from inspection.cli.common import EXIT_BAD_INPUT, config_option, exits_on_errors, station_config
from inspection.config.review import database_url
from review_ui.auth.users import ROLES, add_user, disable_user, list_users, set_role
from review_ui.db import Database


def _actor() -> str:
    """Audit records name the OS account that ran the command."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, e.g. an arbitrary container uid
        return f"cli:uid{os.getuid()}"


def _database(config_file: Path | None) -> Database:
    config = station_config(config_file)
    return Database(database_url(config.review, config.storage.data_dir))


def _read_password(username: str, from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            click.secho("error: --password-stdin got an empty line: pipe the password in", fg="red", err=True)
            sys.exit(EXIT_BAD_INPUT)
        return password
    return str(click.prompt(f"Password for {username}", hide_input=True, confirmation_prompt=True))


@click.group()
def users() -> None:
    """Review server users and their roles."""


@users.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the user may do.")
@click.option("--full-name", default="", help="Printed name on e-signatures.")
@click.option("--password-stdin", is_flag=True, help="Read the password from one line of stdin instead of prompting.")
@config_option
@exits_on_errors
def add(username: str, role: str, full_name: str, password_stdin: bool, config_file: Path | None) -> None:
    """Create USERNAME (exit 2 if it exists)."""
    database = _database(config_file)
    try:
        password = _read_password(username, password_stdin)
        with database.engine.begin() as connection:
            user = add_user(
                connection, actor=_actor(), username=username, role=role, password=password, full_name=full_name
            )
    finally:
        database.close()
    click.echo(f"created {user.username} ({user.role})")


@users.command("list")
@config_option
@exits_on_errors
def list_command(config_file: Path | None) -> None:
    """Print every user with role and status."""
    database = _database(config_file)
    try:
        with database.engine.connect() as connection:
            rows = list_users(connection)
    finally:
        database.close()
    for user in rows:
        state = "disabled" if user.disabled else "active"
        click.echo(f"{user.username:<24} {user.role:<11} {state:<9} {user.full_name}")


@users.command("disable")
@click.argument("username")
@click.option("--reason", default="", help="Why, for the audit trail.")
@config_option
@exits_on_errors
def disable(username: str, reason: str, config_file: Path | None) -> None:
    """Disable USERNAME and end their sessions at once."""
    database = _database(config_file)
    try:
        with database.engine.begin() as connection:
            disable_user(connection, actor=_actor(), username=username, reason=reason)
    finally:
        database.close()
    click.echo(f"disabled {username}")


@users.command("set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.option("--reason", default="", help="Why, for the audit trail.")
@config_option
@exits_on_errors
def set_role_command(username: str, role: str, reason: str, config_file: Path | None) -> None:
    """Give USERNAME the role ROLE; their sessions end so the new role applies at once."""
    database = _database(config_file)
    try:
        with database.engine.begin() as connection:
            user = set_role(connection, actor=_actor(), username=username, role=role, reason=reason)
    finally:
        database.close()
    click.echo(f"{user.username} is now {user.role}")
