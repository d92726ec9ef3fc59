"""`python -m builder`, and the `sheets` command: handed to the user's daemon when one of
this installation is listening (builder/daemon/), else run here."""

import sys

from builder.daemon.client import handed_off


def entry() -> None:
    """`sheets`: nothing of the stages is imported before the daemon has said no."""
    if (code := handed_off(sys.argv[1:])) is not None:
        sys.exit(code)
    from builder.cli import run

    run()


if __name__ == "__main__":
    entry()
