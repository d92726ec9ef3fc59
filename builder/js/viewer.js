// The viewer of a `sheets build --to html` page, like Marp's bespoke HTML: on screen one
// slide at a time, scaled to the window; arrows, PageUp/PageDown, space, Home/End move,
// `f` toggles full screen; the address keeps the slide number (#3). Printing (the
// browser's print dialog, or pdf.py) is untouched: every rule here is for the screen, so
// print media lays out all slides, one per page at the theme's @page size.
"use strict";

(() => {
  const container = document.querySelector("div.marpit");
  if (!container) return;
  const slides = Array.from(container.children).filter((node) => node.matches("section"));
  if (!slides.length) return;

  const style = document.createElement("style");
  style.textContent = `
@media screen {
  html, body { height: 100%; margin: 0; }
  body.sheets-viewer { overflow: hidden; background: #1e1e1e; }
  body.sheets-viewer div.marpit {
    position: absolute; left: 50%; top: 50%;
    transform: translate(-50%, -50%) scale(var(--sheets-scale, 1));
  }
  body.sheets-viewer div.marpit > section:not(.sheets-current) { display: none; }
}`;
  document.head.append(style);

  let current = 0;

  function fromHash() {
    const number = Number.parseInt(decodeURIComponent(location.hash.slice(1)), 10);
    return Number.isInteger(number) && number >= 1 ? Math.min(number, slides.length) - 1 : 0;
  }

  function fit() {
    const slide = slides[current];
    const width = slide.offsetWidth || 1;
    const height = slide.offsetHeight || 1;
    const scale = Math.min(window.innerWidth / width, window.innerHeight / height);
    document.body.style.setProperty("--sheets-scale", String(scale));
  }

  function show(index) {
    current = Math.max(0, Math.min(index, slides.length - 1));
    slides.forEach((slide, position) => {
      slide.classList.toggle("sheets-current", position === current);
    });
    const hash = `#${current + 1}`;
    if (location.hash !== hash) history.replaceState(null, "", hash);
    fit();
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) {
      document.exitFullscreen();
    } else if (document.documentElement.requestFullscreen) {
      document.documentElement.requestFullscreen();
    }
  }

  function onKey(event) {
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) {
      return;
    }
    const moves = {
      ArrowRight: 1, ArrowDown: 1, PageDown: 1, " ": event.shiftKey ? -1 : 1,
      ArrowLeft: -1, ArrowUp: -1, PageUp: -1,
    };
    if (event.key in moves) {
      show(current + moves[event.key]);
    } else if (event.key === "Home") {
      show(0);
    } else if (event.key === "End") {
      show(slides.length - 1);
    } else if (event.key === "f" || event.key === "F" || event.key === "F11") {
      toggleFullscreen();
    } else {
      return;
    }
    event.preventDefault();
  }

  function start() {
    // Only once diagrams are drawn: mermaid cannot lay out inside a hidden slide.
    document.body.classList.add("sheets-viewer");
    show(fromHash());
    window.addEventListener("resize", fit);
    window.addEventListener("hashchange", () => show(fromHash()));
    document.addEventListener("keydown", onKey);
    window.sheetsViewer = { show, get current() { return current; }, slides };
  }

  Promise.resolve(window.sheetsReady).finally(start);
})();
