"""runner: linked snippets run in worker processes, each call in a fresh child given its
`card`.

The stage's public names. Inside, parent side to child side: `pool` (`SnippetPool`, in
the checking process), `protocol` (the frames and messages on the pipes), `server` (a
worker: the fork server, `python -m builder.runner.server`), `child` (one call in its
forked child), `card` (the `card` a snippet receives).

`server` and `child` are not imported here: the worker runs `server` as `__main__`, and
a package that imported it first would have it twice (runpy's warning).
"""

from builder.runner.card import EquationError, SnippetCard
from builder.runner.pool import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, SnippetPool
from builder.runner.protocol import SnippetOutcome

__all__ = ["DEFAULT_MEMORY_LIMIT", "DEFAULT_TIMEOUT", "EquationError", "SnippetCard",
           "SnippetOutcome", "SnippetPool"]
