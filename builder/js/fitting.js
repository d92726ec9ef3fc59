// Marp Core's auto-scaling, without Marp's runtime. builder/render.py inlines this only in
// a page that needs it; the preview (builder/js/preview.js) calls `window.sheetsFit` on
// each slide it patches. What is scaled, as Marp Core 4 scales it:
// - a fitting heading (`# <!-- fit --> Title`, `data-auto-scaling`): its content on one
//   line, scaled up or down to the heading's width;
// - a code block (`data-auto-scaling="downscale-only"`): its lines unwrapped, scaled
//   down (never up) when wider than the block;
// - display math: scaled down when wider than its paragraph (Marp's MathJax SVG has
//   width 100% and its natural height as max-height).
// The scale is CSS `zoom`, which scales the layout box too: what is scaled takes the
// room it is drawn in, so nothing overlaps and the slide's scroll width (what pdf.py
// measures as overflow) sees the scaled width. A heading's content is scaled in a shadow
// root (a box around a <slot>), so that the heading's own DOM stays as rendered.
"use strict";

(() => {
  const HEADING = ":is(h1, h2, h3, h4, h5, h6)[data-auto-scaling]";
  const CODE = "pre[data-auto-scaling]";
  const MATH = 'mjx-container[display="true"] > mjx-math';

  // The box whose zoom scales `element`'s content, and whether it may grow.
  function scaledBox(element) {
    if (element.localName === "mjx-math") {
      return { box: element, room: element.parentElement, grow: false };
    }
    if (element.localName === "pre") {
      const code = element.firstElementChild;
      if (!code || code !== element.lastElementChild) return null;  // raw HTML: leave it
      if (code.style.width !== "max-content") {
        code.style.display = "block";
        code.style.width = "max-content";
      }
      return { box: code, room: element, grow: false };
    }
    let root = element.shadowRoot;
    if (!root) {
      try {
        root = element.attachShadow({ mode: "open" });
      } catch {
        return null;
      }
      // The preview's check badge goes below, out of what is scaled: the heading must
      // scale as in the PDF, where no badge is drawn.
      root.innerHTML = '<span part="sheets-fit" style="display: block; ' +
        'width: max-content; white-space: nowrap"><slot></slot></span>' +
        '<slot name="badge"></slot>';
    }
    for (const badge of element.querySelectorAll(":scope > .sheets-badge")) {
      if (badge.slot !== "badge") badge.slot = "badge";
    }
    return { box: root.firstElementChild, room: element,
             grow: element.dataset.autoScaling !== "downscale-only" };
  }

  function contentWidth(element) {
    const style = getComputedStyle(element);
    return element.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  }

  // Where a scaled box narrower than its room sits: Marp derives the SVG's
  // preserveAspectRatio from text-align (left/right, start/end by direction, else mid).
  function align(job) {
    if (job.box.localName === "mjx-math") return;  // centred by MathJax's own CSS
    const { textAlign, direction } = getComputedStyle(job.room);
    let x = "mid";
    if (textAlign.endsWith("left")) {
      x = "min";
    } else if (textAlign.endsWith("right")) {
      x = "max";
    } else if (textAlign === "start" || textAlign === "end") {
      x = (textAlign === "end") !== (direction === "rtl") ? "max" : "min";
    }
    job.box.style.marginLeft = x === "min" ? "0" : "auto";
    job.box.style.marginRight = x === "max" ? "0" : "auto";
  }

  function fitAll(sections) {
    const jobs = [];
    for (const section of sections) {
      if (!section || !section.querySelectorAll) continue;
      for (const element of section.querySelectorAll(`${HEADING}, ${CODE}, ${MATH}`)) {
        const job = scaledBox(element);
        if (job) jobs.push(job);
      }
    }
    if (!jobs.length) return;
    for (const job of jobs) {
      if (job.box.style.zoom) job.box.style.zoom = "";  // (a write only when refitting)
    }
    // Reads, then writes: one layout for all of them, twice (text drawn at another size
    // is not exactly proportionally wider, so a fitting heading is measured again).
    for (let pass = 0; pass < 2; pass++) {
      for (const job of jobs) {
        job.width = job.box.getBoundingClientRect().width;
        job.roomWidth = contentWidth(job.room);
      }
      for (const job of jobs) {
        if (!(job.width > 0 && job.roomWidth > 0)) continue;
        const zoom = Number(job.box.style.zoom || 1);
        let scale = zoom * job.roomWidth / job.width;
        if (!job.grow) scale = Math.min(1, scale);
        if (pass === 0) align(job);
        if (Math.abs(scale - zoom) > 1e-4) job.box.style.zoom = String(scale);
      }
      if (!jobs.some((job) => job.grow)) break;
    }
  }

  // Fits the slides given once the fonts they use are in (asking for the layout first
  // starts their loading); resolves when done, never rejects (a slide left unscaled
  // must not stop the page from printing).
  window.sheetsFit = (sections) => {
    void document.body.offsetWidth;
    return document.fonts.ready.then(() => fitAll(Array.from(sections)))
      .catch((error) => console.error("fitting:", error));
  };

  const slides = document.querySelectorAll("div.marpit > section");
  if (slides.length) {
    // pdf.py and the viewer wait for sheetsReady (the diagrams' promise, if any).
    window.sheetsReady = Promise.all([window.sheetsReady, window.sheetsFit(slides)]);
  }
})();
