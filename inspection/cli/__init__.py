"""The `inspection` command: one group, thin commands over library functions.

Exit codes: 0 ok, 1 a check failed (e.g. golden drift), 2 bad input, config or model.
"""

from __future__ import annotations

import logging

import click

from inspection import __version__
from inspection.cli.actuator_cmd import actuator
from inspection.cli.audit_cmd import audit
from inspection.cli.bench_cmd import bench
from inspection.cli.calibrate_cmd import calibrate
from inspection.cli.camera_cmd import camera
from inspection.cli.config_cmd import config
from inspection.cli.model_cmd import model
from inspection.cli.replay_cmd import replay
from inspection.cli.review_cmd import review
from inspection.cli.run_cmd import run
from inspection.cli.sim_cmd import sim
from inspection.cli.status_cmd import status
from inspection.cli.users_cmd import users
from inspection.cli.verify_cmd import verify


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="inspection")
@click.option("-v", "--verbose", is_flag=True, help="Log progress details.")
def main(verbose: bool) -> None:
    """Real-time visual quality inspection station."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


main.add_command(actuator)
main.add_command(audit)
main.add_command(bench)
main.add_command(calibrate)
main.add_command(camera)
main.add_command(config)
main.add_command(model)
main.add_command(sim)
main.add_command(status)
main.add_command(replay)
main.add_command(review)
main.add_command(run)
main.add_command(users)
main.add_command(verify)
