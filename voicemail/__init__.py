"""Voicemail boxes: recorded messages and their back-office handling."""
