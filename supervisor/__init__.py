"""What supervisors use: messages to agents (R-2.16): ``store`` and ``routes``."""
