"""A page opened in Chromium the way a hostile sheet's reader opens it: every element
clicked, hovered and focused, and what the page did recorded: dialogs (script ran),
`javascript:` links followed, requests to another origin, navigations away, and the
Content-Security-Policy's violation reports."""

from __future__ import annotations

import select
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from builder.pdf import Browser, Tab

# Runs before the page's own scripts (DevTools puts it past the page's CSP): CSP
# violations are kept, and a click on a link records where it leads. A link that stays
# on the page or in a `javascript:` URL is followed (the URL would run); any other
# is not, so that the page stays to be clicked further.
_WATCH = """
window.__probe = { violations: [], links: [] };
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}:${event.columnNumber}`;
  const what = String(event.target && event.target.outerHTML).slice(0, 200);
  window.__probe.violations.push(
    `${event.violatedDirective}: ${event.blockedURI} ${event.sample} ${where} in ${what}`);
}, true);
addEventListener("click", (event) => {
  const link = event.target.closest && event.target.closest("a, area");
  if (!link) return;
  const href = link.href && typeof link.href === "object" ? link.href.baseVal : link.href;
  const target = String(href || link.getAttribute("xlink:href") || "");
  window.__probe.links.push(target);
  if (!/^\\s*javascript:/i.test(target) && !target.startsWith("#")
      && !target.startsWith(location.href.split("#")[0] + "#")) event.preventDefault();
}, true);
"""

# Every element: clicked, hovered, focused, its animations ended (SVG onload/onbegin
# vectors), then the page's state: links and attributes that would run script.
_POKE = """
(async () => {
  const kinds = ["mouseover", "mouseenter", "mousedown", "mouseup", "click", "dblclick",
                 "focus", "focusin", "pointerdown", "animationend", "transitionend"];
  for (const element of Array.from(document.querySelectorAll("*"))) {
    for (const kind of kinds) {
      try {
        element.dispatchEvent(new MouseEvent(kind, { bubbles: true, cancelable: true }));
      } catch (error) { /* an element that refuses an event kind */ }
    }
    if (typeof element.click === "function" && element.tagName !== "A") element.click();
  }
  for (const link of Array.from(document.querySelectorAll("a"))) {
    if (typeof link.click === "function") link.click();  // SVG links have none
  }
  await new Promise((done) => setTimeout(done, 50));
  const risky = [];
  for (const element of Array.from(document.querySelectorAll("*"))) {
    for (const attribute of Array.from(element.attributes)) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.replace(/[\\u0000-\\u0020]/g, "").toLowerCase();
      if (name.startsWith("on") || name === "srcdoc"
          || (/(^|:)(href|src|action|formaction|data|xlink:href)$/.test(name)
              && /^(javascript|vbscript|data:text)/.test(value))) {
        risky.push(`<${element.tagName.toLowerCase()} ${attribute.name}="${attribute.value}">`);
      }
    }
    if (["SCRIPT", "IFRAME", "OBJECT", "EMBED", "BASE", "FORM", "META"].includes(
        element.tagName) && !element.closest("head") && element.tagName !== "SCRIPT") {
      risky.push(`<${element.tagName.toLowerCase()}>`);
    }
  }
  return { ...window.__probe, risky, location: location.href };
})()
"""


@dataclass
class Probe:
    """What a page did while it was poked."""

    dialogs: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)
    navigations: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    script_links: list[str] = field(default_factory=list)
    risky_markup: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    ready: object = None
    """The value of the `ready` expression (what the page had drawn)."""

    def harmful(self) -> list[str]:
        """What a hostile sheet must never achieve."""
        return ([f"dialog: {d}" for d in self.dialogs]
                + [f"request to another origin: {r}" for r in self.foreign_requests]
                + [f"navigated to {n}" for n in self.navigations]
                + [f"followed {link}" for link in self.script_links]
                + [f"markup that runs script: {m}" for m in self.risky_markup])


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class _Session:
    """The events of one tab, taken as they come (a dialog is answered at once, or the
    page would wait for it)."""

    def __init__(self, browser: Browser, tab: Tab, url: str) -> None:
        self.browser, self.tab, self.url = browser, tab, url
        self.probe = Probe()
        self.requests: dict[str, str] = {}
        self.blocked: set[str] = set()
        self.loaded = False

    def take_events(self) -> None:
        events = self.browser._events  # the Browser keeps events not waited for
        for event in [e for e in events if e.get("sessionId") == self.tab.session]:
            events.remove(event)
            method, params = event["method"], event.get("params", {})
            if method == "Page.javascriptDialogOpening":
                self.probe.dialogs.append(f"{params.get('type')}: {params.get('message')}")
                self.tab.send("Page.handleJavaScriptDialog", {"accept": False})
            elif method == "Network.requestWillBeSent":
                self.requests[params["requestId"]] = params["request"]["url"]
            elif method == "Network.loadingFailed" and params.get("blockedReason"):
                self.blocked.add(params["requestId"])
            elif method == "Page.frameNavigated" and not params["frame"].get("parentId"):
                if params["frame"]["url"].split("#")[0] != self.url.split("#")[0]:
                    self.probe.navigations.append(params["frame"]["url"])
            elif method == "Page.loadEventFired":
                self.loaded = True
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                self.probe.console_errors.append(" ".join(
                    str(arg.get("value", arg.get("description", ""))) for arg in params["args"]))

    def run(self, method: str, params: dict[str, object] | None = None,
            timeout: float = 30.0) -> dict[str, object]:
        command = self.tab.send(method, params)
        waited = 0.0
        while not self.browser.answered(command):
            self.take_events()
            select.select([self.browser.fileno()], [], [], 0.05)
            waited += 0.05
            if waited > timeout:
                raise TimeoutError(f"{method} not answered")
        self.take_events()
        return self.browser.receive(command)

    def wait_loaded(self) -> None:
        while not self.loaded:
            reply = self.run("Runtime.evaluate", {"expression": "document.readyState",
                                                  "returnByValue": True})
            self.loaded = reply["result"] == {"type": "string", "value": "complete"}


def probe_page(browser: Browser, url: str, *, ready: str = "return true;") -> Probe:
    """Open `url`, wait for `ready` (a JavaScript expression, awaited), poke every
    element and report what happened."""
    tab = browser.open_tab(1280, 900)
    session = _Session(browser, tab, url)
    try:
        for domain in ("Page", "Network", "Runtime"):
            session.run(f"{domain}.enable")
        session.run("Page.addScriptToEvaluateOnNewDocument", {"source": _WATCH})
        session.run("Page.navigate", {"url": url})
        session.wait_loaded()
        ready_reply = session.run("Runtime.evaluate", {
            "expression": f"(async () => {{ {ready} }})()", "awaitPromise": True,
            "returnByValue": True})
        reply = session.run("Runtime.evaluate", {"expression": _POKE, "awaitPromise": True,
                                                 "returnByValue": True})
        if "exceptionDetails" in reply:
            raise AssertionError(f"the probe failed: {reply['exceptionDetails']}")
        state = reply["result"]["value"]  # type: ignore[index]
        session.run("Runtime.evaluate", {"expression": "0"})  # late events
        probe = session.probe
        probe.ready = ready_reply["result"].get("value")  # type: ignore[attr-defined]
        probe.violations = list(state["violations"])
        probe.script_links = [link for link in state["links"]
                              if link.strip().lower().startswith(("javascript:", "vbscript:"))]
        probe.risky_markup = list(state["risky"])
        own = _origin(url)
        for request, address in session.requests.items():
            if request in session.blocked or address.startswith("data:"):
                continue
            if _origin(address) != own:
                probe.foreign_requests.append(address)
        return probe
    finally:
        tab.close()


__all__ = ["Probe", "probe_page"]
