"""Images: local files are inlined as `data:` URLs (the HTML is one self-contained file);
a missing one is a warning at its line and a visible placeholder."""

from __future__ import annotations

import base64
import html
import mimetypes
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from markdown_it.utils import EnvType

from builder.marp import Slide
from builder.model import Diagnostic, SourceLoc
from builder.render.state import RenderState
from builder.render.version import file_state

_IMAGE_TYPES = {".webp": "image/webp", ".svg": "image/svg+xml", ".avif": "image/avif"}


def image_url(src: str, loc: SourceLoc, state: RenderState) -> str | None:
    """A local image as a `data:` URL; None (and a warning at `loc`) when it is missing.
    Remote and `data:` URLs are kept as written."""
    parts = urlsplit(src)
    if parts.scheme and parts.scheme != "file" and len(parts.scheme) > 1:
        return src
    path = Path(unquote(parts.path))
    if not path.is_absolute():
        path = state.deck.path.parent / path
    if path not in state.images:
        state.image_states[path] = file_state(path)
        try:
            data = path.read_bytes()
        except OSError:
            state.images[path] = None
        else:
            kind = _IMAGE_TYPES.get(path.suffix.lower()) or \
                mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            state.images[path] = f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    url = state.images[path]
    state.used_images[str(path)] = state.image_states[path]
    if url is None:
        state.diagnostics.append(Diagnostic(loc, f"image not found: {unquote(src)}"))
    return url


_CSS_URL = re.compile(r"""url\(\s*(["']?)([^"')]*)\1\s*\)""")


def inline_css_urls(value: str, loc: SourceLoc, state: RenderState) -> str:
    """Local files in a `backgroundImage: url(…)` directive, inlined like images."""
    def inline(match: re.Match[str]) -> str:
        url = image_url(match.group(2), loc, state)
        return f'url("{url}")' if url else match.group(0)

    return _CSS_URL.sub(inline, value)


_HTML_IMAGE = re.compile(r'(<img\b[^>]*?\ssrc=")([^"]*)(")', re.IGNORECASE)


def inline_html_images(html_text: str, line: int, env: EnvType) -> str:
    """`<img src>` in raw HTML (already cut down to Marp's allowlist) is a local image
    like `![](…)`: inlined, or reported when missing (the tag is then left as written)."""
    if "<img" not in html_text.lower():
        return html_text
    slide: Slide = env["slide"]

    def inline(match: re.Match[str]) -> str:
        src = html.unescape(match.group(2))
        where = SourceLoc(slide.loc.path, line + html_text.count("\n", 0, match.start()))
        url = image_url(src, where, env["state"])
        return match.group(0) if url is None else \
            f"{match.group(1)}{html.escape(url)}{match.group(3)}"

    return _HTML_IMAGE.sub(inline, html_text)


