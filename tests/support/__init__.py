"""Helpers shared by the test folders: synthetic media, the CLI runner and its error check, training data.

Plain modules, imported as `support.<module>` (pytest puts tests/ on the path); the fixtures built on them
live in tests/conftest.py.
"""
