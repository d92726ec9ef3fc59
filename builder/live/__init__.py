"""live: the preview server and the sheet it rebuilds on every save.

The stage's public API: `PreviewServer` (knows nothing of stages: it is handed a
`rebuild(path) -> Update` callable, watches files and pushes each `Update` to the page,
with `Badge`s once the checks are done); `SheetPreview`, the rebuild for one sheet;
`open_browser` for the command line.
"""

from builder.live.preview import SheetPreview
from builder.live.server import (
    Badge,
    Notice,
    PreviewServer,
    Update,
    open_browser,
)

__all__ = ["Badge", "Notice", "PreviewServer", "SheetPreview", "Update", "open_browser"]
