"""What every test shares: none of the suite's `sheets` runs is handed to a daemon the
developer left running (tests/test_daemon.py starts its own, and lets its runs reach
it)."""

import os

os.environ["SHEETS_DAEMON"] = "off"
