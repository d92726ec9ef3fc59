// A document's page (builder/render/flow.py):
// - a card taller than a page is marked `sheets-card-long`, so that printing breaks it
//   where the page ends instead of moving it whole to a new page (it would not fit
//   there either, and the page before would be left half empty);
// - a table wider than the text (a formula or a long word in a cell) is scaled down to
//   the width with CSS `zoom`, which scales its layout box too, so it is never clipped
//   at the page's edge.
// The preview calls `window.sheetsFitDocument` on each section it patches; the pdf
// stage once fonts and diagrams are in (they change the sizes).
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

  function fitDocument(root) {
    const container = document.querySelector("div.marpit.sheets-document");
    if (!container) return;
    const page = pageHeight(container);
    for (const card of root.querySelectorAll(".sheets-card")) {
      card.classList.remove("sheets-card-long");
      if (page > 0 && card.getBoundingClientRect().height > page) {
        card.classList.add("sheets-card-long");
      }
    }
    for (const table of root.querySelectorAll("div.marpit > section table")) {
      table.style.zoom = "";
      const room = table.parentElement ? table.parentElement.clientWidth : 0;
      const width = table.getBoundingClientRect().width;
      if (room > 0 && width > room + 0.5) table.style.zoom = String(room / width);
    }
  }
  window.sheetsFitDocument = fitDocument;
  fitDocument(document);
  document.fonts.ready.then(() => fitDocument(document));
})();
