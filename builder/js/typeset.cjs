// MathJax for builder/render/typeset.py: TeX in, CHTML out, one JSON object per line.
//
// Once started, it writes {"ready": true}. Then requests on stdin (one per line):
//   {"items": [[tex, display], ...]}  ->  one line per item, in order, each written as soon
//                                         as it is done: {"html": "..." | null, "error": null | "..."}
//   {"stylesheet": true}              ->  {"css": "..."}  (the CSS for every glyph and element)
// A formula MathJax fails on (a TeX error, or an exception anywhere in its parser, output
// or serializer: a stack overflow on deep nesting) is that item's error. One line per item
// tells typeset.py which formula node was on if it dies (out of memory) or is stopped
// (too slow): the first one not answered. A request that cannot be handled at all gets
// {"fatal": "..."}; the process keeps running.
//
// CHTML (not SVG) so that the letters of a formula stay text: selectable in the HTML and
// found by pdftotext in the PDF that Chromium prints from it. Each glyph is text inside
// its <mjx-c> element, as MathJax 4 writes it, not the content of a CSS rule (see
// `GLYPH_RULE`).
//
// Run as `node typeset.cjs`, or from a start-up snapshot that snapshot.cjs builds of this
// module with MathJax loaded and warmed up (`serve` is then its main function).

'use strict';

// mathjax-full 3 is CommonJS; require() finds it in the repository's node_modules.
const { mathjax } = require('mathjax-full/js/mathjax.js');
const { TeX } = require('mathjax-full/js/input/tex.js');
const { CHTML } = require('mathjax-full/js/output/chtml.js');
const { liteAdaptor } = require('mathjax-full/js/adaptors/liteAdaptor.js');
const { LiteParser } = require('mathjax-full/js/adaptors/lite/Parser.js');
const { RegisterHTMLHandler } = require('mathjax-full/js/handlers/html.js');
const { AllPackages } = require('mathjax-full/js/input/tex/AllPackages.js');
const { SafeHandler } = require('mathjax-full/js/ui/safe/SafeHandler.js');
const { Safe } = require('mathjax-full/js/ui/safe/safe.js');

// The placeholders typeset.py replaces: the font directory (fonts become data: URLs there)
// and the family of text inside \text{} (removed, so it inherits the page's font).
const FONT_URL = 'SHEETS-MATHJAX-FONTS';
const INHERIT = 'SHEETS-INHERIT-FONT';

// noerrors/noundefined would hide mistakes as red TeX instead of reporting them;
// textmacros reads \text{} as TeX, where `_` and `#` are errors: notes write
// \text{input_gate} and \text{# Class = 21} and mean the letters (MathJax's default).
const LEFT_OUT = new Set(['noerrors', 'noundefined', 'textmacros']);
const PACKAGES = AllPackages.filter((name) => !LEFT_OUT.has(name));

// Where the newcommand and ams packages keep what a formula defines.
const DEFINITIONS = ['new-Command', 'new-Environment', 'new-Delimiter', 'ams-declare-ops'];

// A sheet's reader must not run its author's script: a link in a formula (\href) keeps
// only the protocols below, or none (a relative link). MathJax's `safe` extension does
// the filtering; its own test reads the protocol with /^\s*([a-z]+):/, which passes
// `java\tscript:` as relative (a browser drops the tab), so the URL is read here as a
// browser reads it. Class, id and style filtering stay off: they cannot run script, and
// the Content-Security-Policy of the page keeps styles from fetching anything.
const SAFE_PROTOCOLS = new Set(['http', 'https', 'mailto']);
const URL_SCHEME = /^([a-z][a-z0-9+.-]*):/i;

function linkProtocol(url) {  // the scheme a browser sees, or '' for a relative URL
  // eslint-disable-next-line no-control-regex
  const normalized = url.replace(/[\t\n\r]/g, '').replace(/^[\u0000-\u0020]+/, '');
  const match = normalized.match(URL_SCHEME);
  return match ? match[1].toLowerCase() : '';
}

let rejectedLinks = [];

class SheetsSafe extends Safe {
  constructor(document, options) {
    super(document, options);
    this.filterMethods.filterURL = (safe, url) => {
      const protocol = linkProtocol(url);
      if (!protocol || SAFE_PROTOCOLS.has(protocol)) return url;
      rejectedLinks.push(url);
      return null;
    };
  }
}

// The lite adaptor writes `href` and `style` values as they are (its CDATA_ATTR) and
// escapes only `"` elsewhere: `\href{x" onclick="…}` would add an attribute, and
// `\href{javascript&colon;…}` becomes `javascript:` once the browser decodes it. Every
// attribute value is escaped here, `&` and `"`, so the page sees the string MathJax has.
class EscapingParser extends LiteParser {
  protectAttribute(text) {
    return String(text).replaceAll('&', '&amp;').replaceAll('"', '&quot;');
  }
}
EscapingParser.CDATA_ATTR = {};

let lastError = null;
const adaptor = liteAdaptor();
adaptor.parser = new EscapingParser();
SafeHandler(RegisterHTMLHandler(adaptor));
const tex = new TeX({
  packages: PACKAGES,
  formatError(jax, error) {
    lastError = error.message;
    return jax.formatError(error);
  },
});
const chtml = new CHTML({ fontURL: FONT_URL, mtextInheritFont: true, adaptiveCSS: false });
const doc = mathjax.document('', {
  InputJax: tex,
  OutputJax: chtml,
  SafeClass: SheetsSafe,
  safeOptions: { allow: { URLs: 'safe', classes: 'all', cssIDs: 'all', styles: 'all' } },
});

// In a browser MathJax scales formulas so that their x-height matches the text around them
// (matchFontHeight), and Marp's SVG math, sized in ex, does the same. Here there is no page
// to measure, so the scale is that of the themes' font: Noto Sans CJK JP's x-height
// (543/1000 em) over MathJax TeX's (0.442 em). Without it formulas print a fifth smaller
// than Marp CLI prints the same sheet.
const SCALE = 0.543 / 0.442;

// Text in the page's font (\text{}, error messages): MathJax pinned its width to the lite
// adaptor's guess (0.6 em per Latin letter); without the pin the browser sizes the box.
const PINNED_TEXT = /<mjx-utext style="([^"]*)" variant="-explicitFont"/g;

function unpin(html) {
  return html.replaceAll(`font-family: MJXZERO, ${INHERIT};`, '').replaceAll(' style=""', '')
    .replace(PINNED_TEXT, (whole, style) => {
      const kept = style.split(';').map((part) => part.trim())
        .filter((part) => part && !part.startsWith('width:'));
      const attribute = kept.length ? ` style="${kept.join('; ')};"` : '';
      return `<mjx-utext${attribute} variant="-explicitFont"`;
    });
}

// MathJax 3 draws each glyph as the content of a ::before rule of its own,
//   mjx-c.mjx-c1D465.TEX-I::before { padding: 0.442em 0.572em 0.011em 0; content: "\1D465"; }
// over an empty <mjx-c class="mjx-c1D465 TEX-I">. Here the glyph moves into the element, as
// MathJax 4 has it: <mjx-c class="mjx-c1D465 TEX-I">𝑥</mjx-c>, under the same rule without
// `::before` and `content`. The box is the same: 0 wide plus the padding (the ::before was
// a block of width 0 in it), the glyph overflowing into the padding as it did from the
// ::before. What changes is one box less per glyph, where Chromium lays a page out three
// times to load and print it (once loaded, twice in Page.printToPDF), and the glyphs are
// now text of the page: selected and copied with it. The stretchy delimiters' pieces keep
// their ::before rules: their glyph depends on the delimiter around them.
const GLYPH_RULE = /^mjx-c((?:\.mjx-c[0-9A-F]+)(?:\.TEX-[A-Z0-9]+)?)::before \{\n  padding: ([^;\n]*);\n  content: ("(?:[^"\\\n]|\\.)*");\n\}$/gm;
// Rules for an ancestor class MathJax 3 never writes: the content of a stretched glyph,
// which is the text of the element now.
const STRETCHED_RULE = /^\.mjx-stretched mjx-c\.mjx-c[0-9A-F]+::before \{\n  content: "(?:[^"\\\n]|\\.)*";\n\}\n*/gm;
const GLYPH_BOX = 'mjx-c::before {\n  display: block;\n  width: 0;\n}\n';
const EMPTY_GLYPH = /<mjx-c class="mjx-c([0-9A-F]+)( TEX-[A-Z0-9]+)?"><\/mjx-c>/g;

function unquote(css) {  // a CSS string's value: "\1D465" is 𝑥
  return css.slice(1, -1).replace(/\\([0-9A-Fa-f]{1,6}) ?|\\(.)/gs,
    (escape, hex, char) => (hex ? String.fromCodePoint(parseInt(hex, 16)) : char));
}

function escapeText(text) {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

// MathJax's CSS for every glyph, rewritten as above, and each glyph's text by the classes
// of its element ('.mjx-c1D465.TEX-I'); made once (and kept in the snapshot).
let glyphs = null;

function glyphCss() {
  if (glyphs === null) {
    const text = new Map();
    const raw = adaptor.textContent(chtml.styleSheet(doc));
    const css = raw.replace(GLYPH_RULE, (rule, classes, padding, content) => {
      text.set(classes, escapeText(unquote(content)));
      return `mjx-c${classes} {\n  padding: ${padding};\n}`;
    }).replace(STRETCHED_RULE, '');
    if (!text.size || !css.includes(GLYPH_BOX)) {
      throw new Error('MathJax wrote its glyph CSS in a form typeset.cjs does not know');
    }
    glyphs = { text, css: css.replace(GLYPH_BOX, `${GLYPH_BOX}\nmjx-c[class] {\n  width: 0;\n}\n`) };
  }
  return glyphs;
}

// The glyphs of a formula's HTML written into their elements. The most specific rule
// decided the content before: the variant's own, else the character's.
function withGlyphs(html) {
  const { text } = glyphCss();
  return html.replace(EMPTY_GLYPH, (element, hex, variant) => {
    const glyph = (variant && text.get(`.mjx-c${hex}.${variant.trim()}`)) ?? text.get(`.mjx-c${hex}`);
    return glyph === undefined ? element : element.replace('></', `>${glyph}</`);
  });
}

function typeset(source, display) {
  lastError = null;
  rejectedLinks = [];
  // Each formula stands alone, so that its result depends on nothing but its TeX (the
  // cache's key): definitions (\newcommand, \def, \DeclareMathOperator…) and labels do
  // not carry over to the next formula, nor to the next build in the preview.
  tex.parseOptions.tags.reset();
  for (const name of DEFINITIONS) tex.parseOptions.handlers.retrieve(name)?.map.clear();
  try {
    const node = doc.convert(source, {
      display, em: 16, ex: 8, scale: SCALE, containerWidth: 80 * 16, family: INHERIT,
    });
    const html = withGlyphs(unpin(adaptor.outerHTML(node)));
    return { html, error: lastError ?? unsafeLinks(rejectedLinks) };
  } catch (error) {
    return { html: null, error: failure(error) };
  }
}

// A link the filter removed is the formula's error: shown as its TeX (plain text, no
// link) and a warning at its line.
function unsafeLinks(urls) {
  if (!urls.length) return null;
  const shown = urls.map((url) => JSON.stringify(url)).join(', ');
  return `link removed from the formula: ${shown} (only http:, https:, mailto: and `
    + 'relative links are kept)';
}

// MathJax's TeX errors come back through formatError; anything else it throws is a bug or
// a limit of MathJax, which the formula's author can only work around: say which.
function failure(error) {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return `nested too deeply for MathJax (${error.message})`;
  }
  const message = String(error && error.message || error);
  return error instanceof Error && error.name !== 'Error'
    ? `MathJax failed on this formula: ${error.name}: ${message}` : message;
}

function handle(request, reply) {
  if (request.stylesheet) {
    reply({ css: glyphCss().css });
    return;
  }
  for (const [source, display] of request.items) reply(typeset(source, Boolean(display)));
}

// What the snapshot runs before it is taken: the stylesheet, and formulas of the common
// kinds, so that the code they need is compiled and the objects it makes are allocated
// in every process started from it (the results are thrown away; each formula stands
// alone, so later ones come out the same).
const WARM_UP = [
  ['\\frac{a}{b} + \\sqrt{x^2+1} - \\sqrt[3]{y}', false],
  ['\\sum_{i=1}^{n} i^2 = \\frac{n(n+1)(2n+1)}{6}', true],
  ['\\int_0^\\infty e^{-x}\\,dx \\prod_k \\oint', false],
  ['\\begin{align} a &= b + c \\\\ d &\\le e \\tag{1} \\end{align}', true],
  ['\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix} \\begin{bmatrix} a \\end{bmatrix}', false],
  ['\\left( \\frac{1}{2} \\right] \\bigl| x \\bigr| \\Big\\{', true],
  ['\\mathbb{R}^n \\to \\mathcal{L} \\mathrm{d}x \\mathbf{v} \\mathit{w} \\mathfrak{g}', false],
  ['\\text{定義} \\quad x \\in A \\iff \\forall y \\ne x', true],
  ['\\lim_{x \\to 0} \\frac{\\sin x}{x} = 1 \\log \\exp \\max_{a}', false],
  ['\\underbrace{a+b}_{c} \\overbrace{d}^{e} \\overline{f} \\underline{g}', true],
  ['\\boxed{E = mc^2} \\textcolor{red}{x} {\\color{blue} y}', false],
  ['\\begin{cases} 1 & x > 0 \\\\ 0 & \\text{otherwise} \\end{cases}', true],
  ['\\hat{x} \\vec{v} \\bar{y} \\tilde{z} \\dot{a} \\ddot{b} x\' y^{\\prime}', false],
  ['\\lfloor x \\rfloor \\lceil y \\rceil |z| \\|w\\| \\langle u, v \\rangle', true],
  ['\\alpha\\beta\\gamma\\Delta\\Omega \\partial f / \\partial x \\nabla \\infty', false],
  ['\\binom{n}{k} \\operatorname{argmax}_x \\ldots \\cdots \\pm \\times \\cdot', true],
  ['{\\large A} \\Large B \\small c \\displaystyle \\frac{1}{2} \\tfrac{1}{2}', false],
  ['\\begin{array}{c|l} x & y \\\\ \\hline 1 & 2 \\end{array} \\xrightarrow{f}', true],
  ['\\frac{1}{', false],
];

function warmUp() {
  const ignore = () => {};
  handle({ stylesheet: true }, ignore);
  handle({ items: WARM_UP }, ignore);
}

// On Linux a write to a pipe is synchronous: a line written is in the pipe before the next
// formula starts, and stays there if node dies on that one.
function write(reply) {
  process.stdout.write(JSON.stringify(reply) + '\n');
}

function serve() {
  const { createInterface } = require('node:readline');
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  lines.on('line', (line) => {
    try {
      handle(JSON.parse(line), write);
    } catch (error) {
      write({ fatal: String(error && error.stack || error) });
    }
  });
  write({ ready: true });
}

module.exports = { serve, warmUp };
if (require.main === module) serve();
