"""Files short enough to read at once: no module of the package over 350 lines."""

from __future__ import annotations

from pathlib import Path

MAX_LINES = 350
PACKAGE = Path(__file__).resolve().parents[2] / "lightning_diffeo"


def test_no_package_file_is_over_350_lines():
    lengths = {str(path.relative_to(PACKAGE.parent)): len(path.read_text(encoding="utf-8").splitlines())
               for path in PACKAGE.rglob("*.py")}
    assert lengths and {name: n for name, n in lengths.items() if n > MAX_LINES} == {}
