"""Callback requests left by callers pressing 0, and their back-office handling."""
