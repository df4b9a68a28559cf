"""The daemon's configuration: one TOML file read into validated pydantic models.

`load_config(path)` returns a `Config` or raises `ConfigError`, whose message names
every bad key path, the value given and what is allowed.
"""

from edge.core.config.load import DEFAULT_CONFIG_PATH, ConfigError, load_config, parse_config
from edge.core.config.models import Config

__all__ = ["DEFAULT_CONFIG_PATH", "Config", "ConfigError", "load_config", "parse_config"]
