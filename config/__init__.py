"""Process configuration: one settings class over the environment."""

from config.settings import ConfigurationError, Settings, load_settings

__all__ = ["ConfigurationError", "Settings", "load_settings"]
