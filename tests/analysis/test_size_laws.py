"""Power laws against the training-set size P (Fig 13): the planted exponents are recovered, with intervals."""

from __future__ import annotations

import pytest

from lightning_diffeo.analysis.points import size_curves
from lightning_diffeo.analysis.size_laws import size_curves_markdown, size_laws, size_laws_markdown

from tests.analysis.synthetic import ARCHS, synthetic_table

SIZES = (256, 1024, 4096, 16384)
PLANTED = {"R_f": -1.0, "test_error": -0.5}  # R_f ~ P^-1 and error = 0.2 sqrt(R_f) in the synthetic study


@pytest.fixture(scope="module")
def table():
    archs = {name: ARCHS[name] for name in ("resnet18", "vgg11bn")}
    return synthetic_table(archs=archs, train_sizes=SIZES, deltas=(1.0,), layers=2, noise_norms=(1.0,))


def test_the_planted_exponents_are_recovered_within_their_errors(table):
    laws = size_laws(table, n_boot=500)
    assert set(laws["arch"]) == {"resnet18", "vgg11bn"} and set(laws["average"]) == {"median", "mean"}
    assert (laws["n_sizes"] == len(SIZES)).all() and (laws["seeds_per_size"] == "3").all()
    for row in laws[laws["quantity"].isin(list(PLANTED))].to_dict("records"):
        truth = PLANTED[row["quantity"]]
        # 0.1 log-noise per run: the slope's standard error is about 0.02; 4 of them bound it
        assert abs(row["b"] - truth) < 4 * row["b_err"] + 1e-9, row
        assert row["b_ci_low"] <= row["b"] <= row["b_ci_high"], row
        assert row["b_ci_high"] - row["b_ci_low"] < 0.5, row


def test_one_size_gives_no_law_and_two_no_interval():
    archs = {"resnet18": ARCHS["resnet18"]}
    one = synthetic_table(archs=archs, train_sizes=(1024,), deltas=(1.0,), layers=2, noise_norms=(1.0,))
    assert size_laws(one, n_boot=100).empty
    two = size_laws(synthetic_table(archs=archs, train_sizes=(256, 1024), deltas=(1.0,), layers=2,
                                    noise_norms=(1.0,)), n_boot=100)
    assert len(two) == 8 and two["b_ci_low"].isna().all() and two["b"].notna().all()


def test_markdown_has_one_row_per_architecture_and_per_size(table):
    laws = size_laws_markdown(size_laws(table, n_boot=200)).splitlines()
    assert len(laws) == 2 + 4 and laws[0].startswith("| dataset | average | architecture | P | seeds |")
    assert "| 256-16384 (4 sizes) | 3 |" in laws[2]
    curves = size_curves_markdown(size_curves(table)).splitlines()
    assert len(curves) == 2 + 2 * 2 * len(SIZES)
