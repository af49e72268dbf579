"""Supervisor realtime views and actions."""
