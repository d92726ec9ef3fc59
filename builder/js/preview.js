// The preview page's side of `sheets preview` (builder/serve.py).
//
// The server streams `update` events: {version, count, error, head?, title?, scripts?,
// slides: {index: html}, badges?, warnings?}. Only the slides listed are replaced; every other
// <section> stays the same DOM object, so the browser keeps its layout, its selection
// and the reader's place. `scripts` are loaded once each (the diagram library); mermaid
// then draws the diagrams of the slides shown, and of each patched slide that has one.
// The summary in the corner counts the cards by verdict and lists the failing ones and
// the sheet's warnings; a click on one scrolls to its slide and marks it.
// `window.sheetsPreview` exposes what tests and the bench wait on.
"use strict";

(() => {
  const container = document.getElementById("sheets-slides");
  const overlay = document.getElementById("sheets-overlay");
  const summary = document.getElementById("sheets-summary");
  const chrome = document.getElementById("sheets-preview-chrome");
  const slideNodes = [];   // one top-level element per slide, in order
  const slideHtml = [];    // the HTML each was made from
  let headNodes = [];      // what the last `head` put into <head>
  let badges = [];
  let warnings = [];
  const badgeMarks = new Map();  // slide index -> its badge elements, in `badges` order
  const loadedScripts = new Set();
  let mermaidReady = false;

  const state = (window.sheetsPreview = {
    version: 0, badgeVersion: 0, connected: false, error: null, fitVersion: 0,
    slides: slideNodes,
    diagramRuns: 0,  // mermaid runs finished (drawn or failed)
  });

  function parse(html) {
    const template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  function replaceHead(html) {
    for (const node of headNodes) node.remove();
    const fragment = parse(html);
    headNodes = Array.from(fragment.childNodes);
    // Theme CSS goes before the preview's own rules, so that the overlay stays on top.
    document.head.insertBefore(fragment, chrome);
  }

  function slideElement(html) {
    const fragment = parse(html);
    const elements = fragment.children;
    if (elements.length === 1) return elements[0];
    const wrapper = document.createElement("div");
    wrapper.className = "sheets-slide";
    wrapper.append(fragment);
    return wrapper;
  }

  // The top-most slide in view and where its top is: after a patch, that slide is put
  // back at the same place, whatever changed in height above it.
  function scrollAnchor() {
    for (let index = 0; index < slideNodes.length; index++) {
      const rect = slideNodes[index].getBoundingClientRect();
      if (rect.bottom > 0) return { index, top: rect.top };
    }
    return null;
  }

  function restoreScroll(anchor) {
    if (anchor === null || slideNodes.length === 0) return;
    const node = slideNodes[Math.min(anchor.index, slideNodes.length - 1)];
    const shift = node.getBoundingClientRect().top - anchor.top;
    if (shift !== 0) window.scrollBy(0, shift);
  }

  function patchSlides(changed, count) {
    const replaced = [];
    for (const [key, html] of Object.entries(changed)) {
      const index = Number(key);
      // After a reconnect the server sends every slide: keep the ones we already show.
      if (slideHtml[index] === html) continue;
      const node = slideElement(html);
      if (index < slideNodes.length) {
        slideNodes[index].replaceWith(node);
      } else {
        // New slides arrive in index order after the existing ones.
        container.append(node);
      }
      slideNodes[index] = node;
      slideHtml[index] = html;
      replaced.push(index);
    }
    while (slideNodes.length > count) slideNodes.pop().remove();
    slideHtml.length = slideNodes.length;
    return replaced;
  }

  function normalize(text) {
    return text.replace(/\s+/g, " ").trim();
  }

  function headingFor(section, title) {
    const headings = section.querySelectorAll("h1, h2, h3, h4, h5, h6");
    const wanted = normalize(title);
    for (const heading of headings) {
      const clone = heading.cloneNode(true);
      for (const badge of clone.querySelectorAll(".sheets-badge")) badge.remove();
      if (normalize(clone.textContent) === wanted) return heading;
    }
    return null;
  }

  // The slides whose badges differ between the lists `before` and `after` as `shown`
  // picks them out (all of a badge, or what decides its size).
  function changedBadgeSlides(before, after, shown) {
    const bySlide = (list) => {
      const found = new Map();
      for (const badge of list) {
        found.set(badge.slide, (found.get(badge.slide) || "") + JSON.stringify(shown(badge)));
      }
      return found;
    };
    const old = bySlide(before);
    const now = bySlide(after);
    const changed = [];
    for (const index of new Set([...old.keys(), ...now.keys()])) {
      if (old.get(index) !== now.get(index)) changed.push(index);
    }
    return changed;
  }

  const badgeSize = (badge) => [badge.title, badge.status, badge.label];

  function describeBadge(mark, badge) {
    mark.dataset.line = String(badge.line);
    mark.title = `line ${badge.line}: ${badge.status}` +
      (badge.message ? `\n${badge.message}` : "");
  }

  function drawBadges(indices) {
    for (const index of indices) {
      badgeMarks.set(index, []);
      const section = slideNodes[index];
      if (!section) continue;
      for (const old of section.querySelectorAll(".sheets-badge, .sheets-badge-stack")) {
        old.remove();
      }
    }
    const wanted = new Set(indices);
    for (const badge of badges) {
      if (!wanted.has(badge.slide)) continue;
      const section = slideNodes[badge.slide];
      if (!section) continue;
      const mark = document.createElement("span");
      mark.className = `sheets-badge sheets-badge-${badge.status}`;
      mark.dataset.status = badge.status;
      mark.textContent = badge.label || badge.status;
      describeBadge(mark, badge);
      badgeMarks.get(badge.slide).push(mark);
      const heading = badge.title ? headingFor(section, badge.title) : null;
      if (heading) {
        heading.append(mark);
      } else {
        let stack = section.querySelector(":scope > .sheets-badge-stack");
        if (!stack) {
          stack = document.createElement("div");
          stack.className = "sheets-badge-stack";
          section.prepend(stack);
        }
        stack.append(mark);
      }
    }
  }

  // The slides whose badges changed only in their line or message (an edit above moved
  // them): their marks are told so in place, which moves nothing on the page.
  function describeBadges(indices) {
    const redraw = [];
    for (const index of indices) {
      const marks = badgeMarks.get(index) || [];
      const own = badges.filter((badge) => badge.slide === index);
      if (marks.length !== own.length) {
        redraw.push(index);
        continue;
      }
      own.forEach((badge, number) => describeBadge(marks[number], badge));
    }
    if (redraw.length) drawBadges(redraw);
  }

  function loadScripts(urls) {
    for (const url of urls) {
      if (loadedScripts.has(url)) continue;
      loadedScripts.add(url);
      const script = document.createElement("script");
      script.src = url;  // inserted: loads and runs without holding up the patches
      script.addEventListener("load", () => drawDiagrams(slideNodes));
      document.head.append(script);
    }
  }

  // Mermaid replaces each block's text with an <svg> and marks it data-processed; a
  // patched slide brings fresh, unprocessed blocks. Slides without one cost a query.
  function drawDiagrams(sections) {
    const mermaid = window.mermaid;
    if (!mermaid) return;  // not needed, or still loading (its load event comes back)
    if (!mermaidReady) {
      mermaid.initialize({ startOnLoad: false });
      mermaidReady = true;
    }
    const nodes = [];
    for (const section of sections) {
      if (section) nodes.push(...section.querySelectorAll(".mermaid:not([data-processed])"));
    }
    if (!nodes.length) return;
    // suppressErrors: a diagram being typed is often invalid; mermaid draws its error.
    mermaid.run({ nodes, suppressErrors: true })
      .catch((error) => console.error("mermaid:", error))
      .finally(() => { state.diagramRuns += 1; });
  }

  // The corner summary: "12 pass · 1 fail · 3 unchecked · 2 warnings", and under it
  // each failing card and each warning, which jumps to its slide.
  function drawSummary() {
    const counts = { pass: 0, fail: 0, error: 0, unchecked: 0 };
    for (const badge of badges) counts[badge.status] += 1;
    const parts = Object.entries(counts).filter(([, count]) => count)
      .map(([status, count]) => `${count} ${status}`);
    if (warnings.length) {
      parts.push(`${warnings.length} warning${warnings.length === 1 ? "" : "s"}`);
    }
    summary.hidden = parts.length === 0;
    summary.firstElementChild.textContent = parts.join(" · ");
    const list = summary.querySelector("ol");
    list.replaceChildren();
    const items = [
      ...badges.filter((badge) => badge.status === "fail" || badge.status === "error")
        .map((badge) => ({ slide: badge.slide, line: badge.line, kind: badge.status,
          text: `${badge.title || "card"}: ${badge.message}` })),
      ...warnings.map((warning) => ({ slide: warning.slide, line: warning.line,
        kind: "warning", text: warning.message })),
    ].sort((a, b) => a.line - b.line);
    for (const item of items) {
      const entry = document.createElement("li");
      entry.className = `sheets-summary-${item.kind}`;
      entry.dataset.slide = String(item.slide);
      entry.textContent = `line ${item.line}: ${item.kind}: ${item.text}`;
      entry.addEventListener("click", () => jumpTo(item.slide));
      list.append(entry);
    }
    state.summary = { counts, warnings: warnings.length, items: items.length };
  }

  function jumpTo(index) {
    const node = slideNodes[index];
    if (!node) return;
    node.scrollIntoView({ block: "start" });
    for (const old of container.querySelectorAll(".sheets-jumped")) {
      old.classList.remove("sheets-jumped");
    }
    node.classList.add("sheets-jumped");
    state.jumped = index;
  }

  function showError(message) {
    state.error = message;
    overlay.hidden = message === null;
    overlay.firstElementChild.textContent = message === null ? "" : message;
  }

  function apply(message) {
    if ("head" in message) replaceHead(message.head);
    if ("title" in message && message.title) document.title = message.title;
    const anchor = scrollAnchor();
    const replaced = patchSlides(message.slides, message.count);
    // Badges are redrawn on the slides patched and on those whose badges changed: a
    // check's results name every card of the sheet, but one edit changes a few (and
    // the lines of those below it, which are put right in place).
    const redrawn = new Set(replaced);
    let described = [];
    if ("badges" in message) {
      for (const index of changedBadgeSlides(badges, message.badges, badgeSize)) {
        redrawn.add(index);
      }
      described = changedBadgeSlides(badges, message.badges, (badge) => badge)
        .filter((index) => !redrawn.has(index));
      badges = message.badges;
      state.badgeVersion += 1;
    }
    if ("warnings" in message) warnings = message.warnings;
    if ("badges" in message || "warnings" in message) drawSummary();
    const indices = Array.from(redrawn).sort((a, b) => a - b);
    if (indices.length) drawBadges(indices);
    if (described.length) describeBadges(described);
    if ("scripts" in message) loadScripts(message.scripts);
    if (replaced.length) drawDiagrams(replaced.map((index) => slideNodes[index]));
    // Fitting headings, wide code and math (fitting.js): on the slides patched, and on
    // those whose badges (which sit in headings) were redrawn.
    const fit = window.sheetsFit(indices.map((index) => slideNodes[index]).filter(Boolean));
    restoreScroll(anchor);
    fit.then(() => { restoreScroll(anchor); state.fitVersion = message.version; });
    showError(message.error);
    state.version = message.version;
    window.dispatchEvent(new CustomEvent("sheets:update", { detail: message }));
  }

  const events = new EventSource("/_sheets/events");
  events.addEventListener("open", () => { state.connected = true; });
  events.addEventListener("error", () => { state.connected = false; });
  events.addEventListener("update", (event) => {
    const received = Date.now();
    apply(JSON.parse(event.data));
    state.timing = { received, applied: Date.now() };
  });
})();
