// A document's page (builder/render/flow.py):
// - a card taller than a page is marked `sheets-card-long`, so that printing breaks it
//   where the page ends instead of moving it whole to a new page (it would not fit
//   there either, and the page before would be left half empty);
// - a table wider than the text (a formula or a long word in a cell) is scaled down to
//   the width with CSS `zoom`, which scales its layout box too, so it is never clipped
//   at the page's edge.
// It runs on load and once the fonts are in; the pdf stage runs it again once diagrams
// are drawn (`window.sheetsFitDocument`). (The preview, a screen, has no pages.)
"use strict";

(() => {
  function pageHeight(container) {
    const probe = document.createElement("div");
    probe.style.cssText = "position: absolute; visibility: hidden; " +
      "height: var(--sheets-page-height)";
    container.append(probe);
    const height = probe.getBoundingClientRect().height;
    probe.remove();
    return height;
  }

  // Each pass undoes what the last did, then measures everything, then writes: one
  // layout for all the cards and tables, not one for each.
  function fitDocument(root) {
    const container = document.querySelector("div.marpit.sheets-document");
    if (!container) return;
    const cards = [...root.querySelectorAll(".sheets-card")];
    const tables = [...root.querySelectorAll("div.marpit > section table")];
    for (const card of cards) card.classList.remove("sheets-card-long");
    for (const table of tables) table.style.zoom = "";
    const page = pageHeight(container);
    const heights = cards.map((card) => card.getBoundingClientRect().height);
    const widths = tables.map((table) => [
      table.parentElement ? table.parentElement.clientWidth : 0,
      table.getBoundingClientRect().width,
    ]);
    cards.forEach((card, index) => {
      if (page > 0 && heights[index] > page) card.classList.add("sheets-card-long");
    });
    tables.forEach((table, index) => {
      const [room, width] = widths[index];
      // Rounded down: the scaled borders must not end a fraction of a pixel past.
      if (room > 0 && width > room + 0.5) {
        table.style.zoom = String(Math.floor((room / width) * 1000) / 1000);
      }
    });
  }
  window.sheetsFitDocument = fitDocument;
  fitDocument(document);
  document.fonts.ready.then(() => fitDocument(document));
})();
