"""`python -m builder` is the `sheets` command."""

import sys

from builder.cli import main

sys.exit(main())
