"""`python -m builder` is the `sheets` command."""

from builder.cli import run

run()
