"""Markdown tables and the machine record."""

from __future__ import annotations

from benchmarks.report import machine, machine_line, table


def test_table_right_aligns_numeric_columns_and_dashes_missing_cells() -> None:
    text = table(["model", "accuracy", "note"], [["a", "0.5", None], ["b", "**0.7**", 3]])
    assert text.splitlines() == [
        "| model | accuracy | note |",
        "| --- | ---: | --- |",
        "| a | 0.5 | – |",
        "| b | **0.7** | 3 |",
    ]


def test_machine_names_python_cpus_and_package_versions() -> None:
    info = machine()
    assert info["python"].count(".") == 2
    assert info["cpus_usable"] >= 1
    assert info["versions"]["torch"] and info["versions"]["mediapipe"]
    line = machine_line({**info, "fer": {"fer": "25.10.3"}})
    assert "mediapipe" in line and "fer venv: fer 25.10.3" in line
