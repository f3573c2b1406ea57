"""``python -m proseo``: the ``proseo`` command line."""

from proseo.cli.app import main

main()
