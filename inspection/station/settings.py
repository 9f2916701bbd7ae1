"""Thresholds and gate policy that a supervisor changes on a running station, over the review link.

Each change carries its own thresholds version, so every decision names the set it was made with;
each worker takes one set per part (`Inspector.inspect`), so a change never splits a decision.
"""

from __future__ import annotations

import logging

from inspection.link.messages import StationSettings
from inspection.model_card import Thresholds
from inspection.station.pipeline import Station

log = logging.getLogger(__name__)


def current_settings(station: Station) -> StationSettings:
    thresholds = station.inspectors[0].thresholds
    policy = station.options.policy
    return StationSettings(
        version=thresholds.version,
        pass_below=thresholds.pass_below,
        reject_above=thresholds.reject_above,
        reject=policy.reject,
        uncertain=policy.uncertain,
    )


def apply_settings(station: Station, settings: StationSettings) -> None:
    changed = settings.model_dump(include={"version", "pass_below", "reject_above"})
    for inspector in station.inspectors:
        inspector.thresholds = Thresholds.model_validate({**inspector.thresholds.model_dump(), **changed})
    station.options.policy = station.options.policy.model_copy(
        update={"reject": settings.reject, "uncertain": settings.uncertain}
    )
    station.monitor.info["thresholds_version"] = settings.version
    log.warning(
        "settings %s in force: pass below %.4f, reject at %.4f, rejects %s, uncertain %s",
        settings.version,
        settings.pass_below,
        settings.reject_above,
        settings.reject,
        settings.uncertain,
    )
