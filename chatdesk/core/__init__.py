"""Everything that is not Qt: engine, templates, sampling, paths, settings.

Nothing in this package may import PySide6 (tests/unit/test_core_is_qt_free.py enforces it),
so the core runs headless, from the CLI and in tests without a display.
"""
