"""The station's one configuration tree, and loading it from TOML or YAML with located errors."""

from inspection.config.loader import ConfigIssue, load_config, validate_config
from inspection.config.station import StationConfig

__all__ = ["ConfigIssue", "StationConfig", "load_config", "validate_config"]
