"""The README quotes what ``report`` computes from the committed tables of the converged FashionMNIST study."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightning_diffeo.analysis import correlation_table, correlations, load_table
from lightning_diffeo.analysis.markdown import points_markdown, table2_markdown
from lightning_diffeo.analysis.points import architecture_points, size_curves
from lightning_diffeo.analysis.size_laws import size_curves_markdown, size_laws, size_laws_markdown
from lightning_diffeo.analysis.training import convergence_check, convergence_markdown
from lightning_diffeo.models import count_parameters

ROOT = Path(__file__).resolve().parents[2]
STUDY = ROOT / "docs" / "study_fashionmnist_converged"
README = (ROOT / "README.md").read_text(encoding="utf-8")
STUDY_README = (STUDY / "README.md").read_text(encoding="utf-8")


def _rows(markdown: str) -> list[str]:
    """The body rows of a Markdown table (header and rule dropped)."""
    return markdown.splitlines()[2:]


@pytest.fixture(scope="module")
def table():
    return load_table(STUDY / "converged.csv")


def test_readme_quotes_the_architecture_points(table):
    for row in _rows(points_markdown(architecture_points(table))):
        assert row in README, row


def test_readme_quotes_table_2_with_its_two_level_intervals(table):
    for row in _rows(table2_markdown(correlation_table(correlations(table)))):  # report's defaults: 2000 resamples, seed 0
        assert row in README, row


def test_the_study_page_quotes_the_convergence_check(table):
    check = convergence_check(table, load_table(STUDY / "doubled.csv"))
    assert len(check) == table["arch"].nunique()
    for line in convergence_markdown(check).splitlines()[2:]:
        assert line in STUDY_README, line


@pytest.mark.parametrize("arch, options", [
    ("fc2", {}), ("fc4", {}), ("fc6", {}), ("lenet", {}), ("alexnet", {"base_channels": 8}),
    ("vgg11", {"base_channels": 8}), ("vgg11_bn", {"base_channels": 8}), ("resnet18", {"base_channels": 8}),
])
def test_readme_parameter_counts_are_the_models(table, arch, options):
    count = count_parameters(arch, in_channels=1, num_classes=10, image_size=28, **options)
    assert f"| `{arch}` |" in README and f"| {count:,} |" in README
    assert set(table.loc[table["arch"] == arch, "n_params"]) == {count}  # what the runs trained


def test_the_study_page_quotes_the_size_curves_and_their_exponents():
    sizes = load_table(STUDY / "sizes" / "sizes.csv")
    curves = size_curves(sizes)
    for row in _rows(size_curves_markdown(curves[curves["average"] == "median"])):
        assert row in STUDY_README, row
    for row in _rows(size_laws_markdown(size_laws(sizes))):  # 2000 resamples, seed 0
        assert row in STUDY_README, row
