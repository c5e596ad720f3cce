"""Hearth: an on-device AI code assistant delivered as a language server."""

__version__ = "0.1.0"
