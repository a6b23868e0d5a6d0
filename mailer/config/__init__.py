"""Settings: read once from a mapping, checked, frozen; the parsers of single values."""

from mailer.config.environment import from_env
from mailer.config.settings import Settings, SettingsError

__all__ = ["Settings", "SettingsError", "from_env"]
