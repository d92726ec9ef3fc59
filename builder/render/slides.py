"""One slide's HTML: `<section id="N" data-…="…" class="…" data-marpit-pagination="p"
data-marpit-pagination-total="t" style="…">` with `<header>`/`<footer>` inside, as Marp
(marpit without inline SVG) writes it, so a Marp theme styles it as Marp does once its
CSS is transformed (builder/marp/themes.py).

The slide body is the parser's markdown-it tokens rendered by markdown-it-py's renderer
with a few rules of our own:
- math: the formulas typeset for the deck (builder/render/equations.py); display math is
  wrapped in `<p>` as marp-core does;
- fenced code: Pygments (builder/render/code.py); ```` ```mermaid ```` becomes a
  `<div class="mermaid">`, drawn in the page by the diagram library;
- images: inlined as `data:` URLs (builder/render/images.py);
- headings get marp-core's ids, and card check badges when results are given;
- marp-core's auto-scaling: under a theme whose `@auto-scaling` turns them on, a fitting
  heading (`# <!-- fit --> Title`) and code blocks get marp-core's marks
  (`is="marp-h1" data-auto-scaling`, `is="marp-pre" data-auto-scaling="downscale-only"`),
  for builder/js/fitting.js to scale.

Scoped styles travel inside their slide's fragment, so that any subset of slides can be
rendered alone (the preview does) with the same head.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote

from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

from builder.marp import Slide, markdown, scope_css
from builder.model import Diagnostic, SourceLoc
from builder.render.code import fence_language, highlight
from builder.render.flow import CARD_ID
from builder.render.headings import slug, slug_text
from builder.render.images import image_url, inline_css_urls, inline_html_images
from builder.render.page import no_end_tag, template
from builder.render.state import RenderState, badge_html, scales


def render_slide(slide: Slide, state: RenderState) -> str:
    """The slide's `<section>` (its math already typeset in `state.math`)."""
    env: dict[str, Any] = {"state": state, "slide": slide,
                           "badges": {b.line: b for b in state.badges.get(slide.index, ())
                                      if b.title}}
    options = markdown().options
    env["cards"] = state.cards
    body = _RENDERER.render(list(slide.tokens), options, env)
    env["cards"] = False
    untitled = [b for b in state.badges.get(slide.index, ())
                if not b.title or b.line not in env.get("placed", set())]
    if untitled:
        body = ('<div class="sheets-badge-stack">'
                + "".join(badge_html(b) for b in untitled) + "</div>\n" + body)
    header = _RENDERER.render(list(slide.header_tokens), options, env) \
        if slide.header_tokens else None
    footer = _RENDERER.render(list(slide.footer_tokens), options, env) \
        if slide.footer_tokens else None
    # Raw HTML must not reach outside the slide (builder/render/closing.py).
    if _has_raw_html(slide.tokens) and not _phrasing_in_order(slide.tokens):
        body = _closed(body, "this slide", slide, state)
    if header is not None and _has_raw_html(slide.header_tokens):
        header = _closed(header, "this slide's header", slide, state)
    if footer is not None and _has_raw_html(slide.footer_tokens):
        footer = _closed(footer, "this slide's footer", slide, state)
    scoped_css = ""
    attributes = _section_attributes(slide, state)
    if slide.scoped_css:
        css = "\n".join(slide.scoped_css)
        key = hashlib.blake2b(css.encode(), digest_size=6).hexdigest()
        attributes.append((f"data-marpit-scope-{key}", ""))
        scoped_css = no_end_tag(scope_css(css, key), "style")
    return template("slide.html.j2").render(
        attributes=attributes,
        header=Markup(header) if header is not None else None,
        footer=Markup(footer) if footer is not None else None,
        body=Markup(body),
        background=Markup(_background_layer(slide, state)),
        scoped_css=Markup(scoped_css),
    )


def _has_raw_html(tokens: Sequence[Token]) -> bool:
    """Whether markdown-it's tokens hold raw HTML (what markdown itself writes is
    balanced by construction)."""
    return any(token.type in ("html_block", "html_inline")
               or (token.children and _has_raw_html(token.children)) for token in tokens)


# Raw HTML that cannot reach outside its paragraph when its tags nest: phrasing elements
# (a browser never closes or reopens them around each other when they nest, and they
# close nothing of the page's). `<a>` is not among them: one closes another.
_PHRASING = frozenset({"abbr", "b", "bdi", "bdo", "cite", "code", "data", "del", "dfn", "em",
                       "i", "ins", "kbd", "mark", "q", "s", "samp", "small", "span", "strong",
                       "sub", "sup", "time", "u", "var"})
_VOID_PHRASING = frozenset({"br", "wbr"})
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9]*)(?:\s[^<>]*|/)?>")


def _phrasing_in_order(tokens: Sequence[Token]) -> bool:
    """Whether the raw HTML of the slide is only phrasing tags (`_PHRASING`) in its
    paragraphs, each closed in the paragraph that opens it and nested in order with
    the inline markup around it (`<i>a *b*</i>`, not `<i>a *b</i>*`). Then the closing
    step (builder/render/closing.py) would find nothing to close, and leave the slide
    as it is: it is not run (on a long note, parsing all of it is most of its render)."""
    for token in tokens:
        if token.type == "html_block":
            return False
        if token.type != "inline" or not token.children:
            continue
        stack: list[str] = []
        for child in token.children:
            if child.type == "html_inline":
                content = child.content.strip()
                if "<" not in content:
                    continue  # escaped by the sanitizer: text
                match = _TAG.fullmatch(content)
                if match is None:
                    return False
                closing, name = match.group(1) == "/", match.group(2).lower()
                if name in _VOID_PHRASING and not closing:
                    continue
                if name not in _PHRASING:
                    return False
                if not closing:
                    stack.append(name)
                elif not stack or stack.pop() != name:
                    return False
            elif child.nesting == 1:
                stack.append(f"markdown {child.tag}")
            elif child.nesting == -1 and (not stack or stack.pop() != f"markdown {child.tag}"):
                return False
        if stack:
            return False
    return True


def _closed(markup: str, where: str, slide: Slide, state: RenderState) -> str:
    """`markup` closed (`close_fragment`), with a warning at the slide's line for each
    tag dropped or closed, so that the author can tidy the source. html5lib is loaded
    here, by the first slide with raw HTML, not by every build."""
    from builder.render.closing import close_fragment

    result = close_fragment(markup)
    for name in result.dropped:
        state.diagnostics.append(Diagnostic(
            slide.loc, f"</{name}> closes nothing in {where}; ignored"))
    for name in result.closed:
        state.diagnostics.append(Diagnostic(
            slide.loc, f"<{name}> is never closed in {where}; closed at its end"))
    return result.html


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"-\1", name).lower()


_GLOBAL_DATA = ("theme", "style", "headingDivider", "lang")


def _section_attributes(slide: Slide, state: RenderState) -> list[tuple[str, str]]:
    """marpit `directives/apply.js`: data-* and CSS custom properties for directives,
    class, colours and backgrounds as inline style, pagination."""
    deck = state.deck
    values: dict[str, str] = dict(slide.directives)
    for key in _GLOBAL_DATA:
        value = deck.directives.get(key)
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        if value not in (None, "", False):
            values[key] = str(value)
    attributes: list[tuple[str, str]] = [("id", str(slide.index + 1))]
    style: dict[str, str] = {}
    for key, value in values.items():
        attributes.append((f"data-{_kebab(key)}", value))
        if not re.search(r"[;{}\"\n]", value):  # a custom property must not end the style
            style[f"--{_kebab(key)}"] = value
    if slide.classes:
        attributes.append(("class", " ".join(slide.classes)))
    if slide.color:
        style["color"] = slide.color
    if slide.background_color:
        style["background-color"] = slide.background_color
        style["background-image"] = "none"
    background_image = slide.background_image
    background_size = slide.background_size
    for background in slide.backgrounds:
        if _is_color(background.src):  # `![bg](red)`: a colour, not an image
            style["background-color"] = background.src
    images = [bg for bg in slide.backgrounds if not _is_color(bg.src)]
    if images:
        # Marp CLI's advanced backgrounds (see `_background_layer`), inside the section.
        style["isolation"] = "isolate"
        split = next((bg for bg in reversed(images) if bg.split), None)
        if split is not None:
            share = split.split_size or "50%"
            attributes.append(("data-marpit-advanced-background-split", str(split.split)))
            style["--marpit-advanced-background-split"] = share
            style["--sheets-split-width"] = \
                f"calc({state.size[0]} * {float(share.rstrip('%')) / 100:g})"
            if split.split == "right":
                style["--sheets-padding-right"] = state.padding_right
    if background_image:
        style["background-image"] = inline_css_urls(background_image, slide.loc, state)
        style["background-position"] = slide.background_position or "center"
        style["background-repeat"] = slide.background_repeat or "no-repeat"
        style["background-size"] = background_size or "cover"
    if slide.paginate:
        attributes.append(("data-marpit-pagination", str(slide.page)))
    if style:
        attributes.append(("style", "".join(f"{k}:{v};" for k, v in style.items())))
    if slide.paginate:
        attributes.append(("data-marpit-pagination-total", str(deck.page_total)))
    return attributes


def _background_layer(slide: Slide, state: RenderState) -> str:
    """marpit `background_image/advanced.js` as Marp CLI draws `![bg]` images: figures
    side by side (or stacked, `vertical`) filling the slide, or its `left`/`right` part
    for a split. Marp puts them in a section of their own behind the slide; here they
    are a layer at the end of the slide, behind its content (`SHEETS_CSS`), so a slide
    stays one section."""
    images = [bg for bg in slide.backgrounds if not _is_color(bg.src)]
    if not images:
        return ""
    direction = next((bg.direction for bg in reversed(images) if bg.direction), None)
    figures = []
    for background in images:
        url = image_url(background.src, background.loc, state)
        style = f'background-image:url("{url}");' if url else ""
        if background.size:
            style += f"background-size:{background.size};"
        if background.filters:
            style += "filter:" + " ".join(f"{name}({value})"
                                          for name, value in background.filters) + ";"
        caption = f"<figcaption>{html.escape(background.alt)}</figcaption>" \
            if background.alt else ""
        figures.append(f'<figure style="{html.escape(style)}">{caption}</figure>')
    return ('<div data-marpit-advanced-background-container="true" '
            f'data-marpit-advanced-background-direction="{direction or "horizontal"}">'
            + "".join(figures) + "</div>\n")


def _is_color(src: str) -> bool:
    return bool(re.fullmatch(r"#[0-9a-fA-F]{3,8}|(rgb|hsl)a?\(.*\)|[a-zA-Z]+", src.strip()))


class _SlideRenderer(RendererHTML):
    """markdown-it-py's HTML renderer plus math, code, images, heading ids and badges.
    `env` carries the render state (see `render_slide`)."""

    def math_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        return self._math(tokens[idx], env, display=False)

    def math_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        return f"<p>{self._math(tokens[idx], env, display=True)}</p>\n"

    @staticmethod
    def _math(token: Token, env: EnvType, *, display: bool) -> str:
        state: RenderState = env["state"]
        result = state.math.get((token.content, display))
        if result is None:  # not typeset (cannot happen for tokens of the deck)
            return f'<span class="sheets-tex">{html.escape(token.content)}</span>'
        slide: Slide = env["slide"]
        line = token.map[0] + 1 if token.map else env.get("line", slide.loc.line)
        if result.error:
            state.math_errors.setdefault(slide.index, []).append(
                (SourceLoc(slide.loc.path, line + _error_offset(_as_written(token),
                                                                 result.error)),
                 result.error))
        if not token.map:  # inline math may span lines too
            env["line"] = line + token.content.count("\n")
        return result.html

    def render(self, tokens: Sequence[Token], options: OptionsDict, env: EnvType) -> str:
        out: list[str] = []
        cards, in_card = env.get("cards", False), False
        for index, token in enumerate(tokens):
            if cards and token.type == "heading_open" and token.level == 0 and token.map:
                # A document's card: the heading section, up to the next heading.
                out.append("</div>\n" if in_card else "")
                identifier = CARD_ID.format(line=token.map[0] + 1)
                out.append(f'<div class="sheets-card" id="{identifier}" '
                           f'data-level="{token.tag[1:]}">\n')
                in_card = True
            if token.type == "inline":
                if token.map:  # the line of what follows, for warnings inside it
                    env["line"] = token.map[0] + 1
                if token.children:
                    out.append(self.renderInline(token.children, options, env))
            elif token.type in self.rules:
                out.append(self.rules[token.type](tokens, index, options, env))
            else:
                out.append(self.renderToken(tokens, index, options, env))
        if in_card:
            out.append("</div>\n")
        return "".join(out)

    def html_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        token = tokens[idx]
        line = token.map[0] + 1 if token.map else env["slide"].loc.line
        return inline_html_images(token.content, line, env)

    def html_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        return inline_html_images(tokens[idx].content, env.get("line", 0), env)

    # Line breaks inside a paragraph move the line that warnings point at.
    def softbreak(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                  env: EnvType) -> str:
        env["line"] = env.get("line", 0) + 1
        return super().softbreak(tokens, idx, options, env)

    def hardbreak(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                  env: EnvType) -> str:
        env["line"] = env.get("line", 0) + 1
        return super().hardbreak(tokens, idx, options, env)

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
              env: EnvType) -> str:
        token = tokens[idx]
        language = fence_language(token)
        if language.lower() == "mermaid":
            env["state"].mermaid = True
            return f'<div class="mermaid">{html.escape(token.content)}</div>\n'
        code = highlight(token.content, language)
        attribute = f' class="language-{html.escape(language)}"' if language else ""
        return f"<pre{_code_scaling(env)}><code{attribute}>{code}</code></pre>\n"

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        rendered = super().code_block(tokens, idx, options, env)
        return rendered.replace("<pre", f"<pre{_code_scaling(env)}", 1)

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
              env: EnvType) -> str:
        token = tokens[idx]
        state: RenderState = env["state"]
        slide: Slide = env["slide"]
        src = str(token.attrGet("src") or "")
        line = int(token.meta.get("line") or env.get("line") or slide.loc.line)
        url = image_url(src, SourceLoc(slide.loc.path, line), state)
        alt = self.renderInlineAsText(token.children or [], options, env)
        style = token.attrGet("style")
        if url is None:
            style_attribute = f' style="{html.escape(str(style))}"' if style else ""
            return (f'<span class="sheets-missing-image" role="img" '
                    f'aria-label="{html.escape(alt)}" data-src="{html.escape(src)}"'
                    f'{style_attribute}>image not found: {html.escape(unquote(src))}</span>')
        attributes = [("src", url), ("alt", alt)]
        attributes += [(name, str(value)) for name, value in token.attrs.items()
                       if name not in ("src", "alt")]
        return "<img" + "".join(f' {name}="{html.escape(value)}"'
                                for name, value in attributes) + " />"

    def heading_open(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                     env: EnvType) -> str:
        token = tokens[idx]
        state: RenderState = env["state"]
        inline = tokens[idx + 1] if idx + 1 < len(tokens) else None
        text = slug(slug_text(inline.children or []) if inline is not None else "")
        count = state.slugs.get(text)
        state.slugs[text] = 0 if count is None else count + 1
        identifier = text if count is None else f"{text}-{count + 1}"
        if token.map:
            env["heading_line"] = token.map[0] + 1
        # marp-core's fitting header: scaled to the slide's width by fitting.js.
        fitting = f' is="marp-{token.tag}" data-auto-scaling' \
            if (token.meta or {}).get("fit") and scales(state, "fittingHeader") else ""
        return f'<{token.tag}{fitting} id="{html.escape(identifier)}">'

    def heading_close(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                      env: EnvType) -> str:
        badge = env["badges"].get(env.pop("heading_line", None))
        mark = ""
        if badge is not None:
            mark = badge_html(badge)
            env.setdefault("placed", set()).add(badge.line)
        return f"{mark}</{tokens[idx].tag}>\n"


def _code_scaling(env: EnvType) -> str:
    """marp-core's code auto-scaling attributes, when the theme turns it on."""
    return ' is="marp-pre" data-auto-scaling="downscale-only"' \
        if scales(env["state"], "code") else ""


_RENDERER = _SlideRenderer()


_CONTROL_SEQUENCE = re.compile(r"\\[A-Za-z]+")


def _error_offset(tex: str, error: str) -> int:
    """How many lines below the math's first line MathJax's `error` is: the line of the
    brace that unbalances it, or of the command it names (`Undefined control sequence
    \\foo`); else none, the math's first line. `sheets check` says the same line for the
    same mistake."""
    if "brace" in error:  # MathJax's "Missing close brace", "Extra close brace"
        from builder.formula import brace_error_offset

        return brace_error_offset(tex)
    named = _CONTROL_SEQUENCE.search(error)
    if named is not None:
        found = re.search(re.escape(named.group()) + r"(?![A-Za-z])", tex)
        if found is not None:
            return tex.count("\n", 0, found.start())
    return 0  # (as `sheets check` says a whole equation's reason: at its first line)


def _as_written(token: Token) -> str:
    """A math token's TeX as the sheet has it, its first newline kept (the parser keeps it
    in `meta` for a block: lines are counted from the opening `$$`)."""
    return str(token.meta.get("tex", token.content)) if token.meta else token.content
