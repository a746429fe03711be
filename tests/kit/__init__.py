"""The test kit: galleries and screens composed from the sample media, for tests and benchmarks.

Product code (models, storage, engine, dashboard) never imports it; tests/test_import_rules.py checks.
"""
