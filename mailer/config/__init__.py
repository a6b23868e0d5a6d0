"""Settings: read once from a mapping, checked, frozen; the parsers of single values."""
