"""Widgets only: they show core dataclasses and emit what the user wants to do."""
