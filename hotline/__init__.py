"""Hotline: the composition root (configuration, wiring of the services, the ``hotline`` CLI)."""

__version__ = "0.1.0"
