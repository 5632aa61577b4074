from __future__ import annotations

import subprocess
import sys

import lightning_diffeo.stability as stability


def test_stability_and_diffeo_do_not_import_lightning():
    code = (
        "import sys, lightning_diffeo.stability, lightning_diffeo.diffeo; "
        "bad = [m for m in sys.modules if m == 'lightning' or m.startswith(('lightning.', 'pytorch_lightning'))]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_public_names_are_exported():
    for name in stability.__all__:
        assert hasattr(stability, name), name
    assert {"measure_stability", "measure_noise_stability", "init_mode", "StabilityResult"} <= set(stability.__all__)
