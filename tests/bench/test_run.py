"""bench/run.py rewrites only its own section of docs/benchmarks.md and keeps the rest intact."""

from __future__ import annotations

from bench.run import discover, header, write_section


def test_sections_are_replaced_in_place_and_the_header_goes_first(tmp_path):
    path = tmp_path / "benchmarks.md"
    path.write_text(
        "# Benchmarks\n\n<!-- bench:calendar -->\nold calendar\n<!-- /bench:calendar -->\n\nhand-written note\n",
        encoding="utf-8",
    )
    write_section("sweep", "sweep figures", path)
    write_section("header", "machine facts", path)
    write_section("calendar", "new calendar", path)
    write_section("header", "machine facts, again", path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(
        "# Benchmarks\n\n<!-- bench:header -->\nmachine facts, again\n<!-- /bench:header -->"
    )
    assert "old calendar" not in text and "new calendar" in text
    assert text.count("<!-- bench:header -->") == 1 and text.count("<!-- bench:sweep -->") == 1
    assert "hand-written note" in text
    assert text.index("bench:calendar") < text.index("hand-written note") < text.index("bench:sweep")


def test_a_missing_file_gets_a_title(tmp_path):
    path = tmp_path / "docs" / "benchmarks.md"
    write_section("header", "facts", path)
    assert path.read_text(encoding="utf-8").startswith("# Benchmarks\n\n<!-- bench:header -->\nfacts\n")


def test_every_benchmark_module_has_a_main_and_the_header_names_the_machine():
    found = discover()
    assert "calendar" in found
    for name, path in found.items():
        assert "def main(" in path.read_text(encoding="utf-8"), f"bench_{name}.py has no main()"
    text = header([], __import__("datetime").datetime(2026, 11, 25), "0.1, 0.1, 0.1")
    for fact in ("cores", "memory", "PostgreSQL", "Redis", "Python", "median", "baseline", "100k → 1M"):
        assert fact in text
