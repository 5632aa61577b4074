"""``python -m lightning_diffeo.cli``: the ``lightning-diffeo`` command."""

from lightning_diffeo.cli.main import main

main()
