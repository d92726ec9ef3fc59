"""`make bench`: run every benchmark script in bench/ in turn and print what each prints.

Each `bench/<name>.py` (but this one) is a program of its own that prints its figures;
this only runs them with the same Python, one after the other (they all use the two
cores), and exits non-zero if any of them failed. Some run more than once (`ALSO`): the
preview on the big deck of issue 22 too, and with line-adding edits; the warm runs
through a `sheets daemon` too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

ALSO: dict[str, list[list[str]]] = {
    "preview": [["--big", "--only", "sheets"], ["--big", "--only", "sheets", "--newline"]],
    "warm": [["--daemon"]],
}
"""The other arguments a script is run with after its plain run."""


def main(argv: list[str] | None = None) -> int:
    names = set(argv if argv is not None else sys.argv[1:])
    scripts = sorted(path for path in HERE.glob("*.py")
                     if path.name != "run.py" and not path.name.startswith("_")
                     and (not names or path.stem in names))
    failed = []
    for script in scripts:
        for arguments in ([], *ALSO.get(script.stem, [])):
            name = " ".join([script.name, *arguments])
            print(f"== bench/{name}", flush=True)
            run = subprocess.run([sys.executable, str(script), *arguments], check=False,
                                 cwd=HERE.parent)
            if run.returncode != 0:
                failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
