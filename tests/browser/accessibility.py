"""An accessibility audit run in the page, on every page state the browser test visits.

What it checks, as the browser computed it (styles applied, nothing guessed from CSS text):
- text contrast, WCAG 2.1 AA: 4.5:1, or 3:1 for large text (24 px, or 18.66 px bold), of each
  visible text's colour on the background behind it (semi-transparent layers composited up to
  the first opaque one; the page is white beneath). Disabled controls are exempt, as WCAG says;
  SVG charts are left out (their text is drawn with `fill`, and they carry a text alternative);
- every form control (not hidden inputs) has a label: a <label>, aria-label or
  aria-labelledby;
- every link and button has an accessible name.
"""

from __future__ import annotations

from playwright.sync_api import Page

AUDIT = r"""
() => {
  const problems = [];
  const parse = (css) => {
    const m = css.match(/rgba?\(([^)]+)\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(parseFloat);
    return { r: p[0], g: p[1], b: p[2], a: p.length > 3 ? p[3] : 1 };
  };
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const luminance = ({ r, g, b }) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const backgroundOf = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c.a > 0) { layers.push(c); if (c.a >= 1) break; }
    }
    let color = { r: 255, g: 255, b: 255, a: 1 };
    for (const layer of layers.reverse()) color = over(layer, color);
    return color;
  };
  const rgb = (c) => `rgb(${Math.round(c.r)}, ${Math.round(c.g)}, ${Math.round(c.b)})`;

  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode.textContent.trim();
    const element = walker.currentNode.parentElement;
    if (!text || !element || seen.has(element)) continue;
    seen.add(element);
    if (element.closest("svg, script, style, template, :disabled")) continue;
    const style = getComputedStyle(element);
    if (style.visibility !== "visible" || element.getClientRects().length === 0) continue;
    const box = element.getBoundingClientRect();
    if (box.width <= 1 || box.height <= 1) continue;  // visually hidden (screen readers only)
    const background = backgroundOf(element);
    let foreground = parse(style.color);
    if (foreground.a < 1) foreground = over(foreground, background);
    const [light, dark] = [luminance(foreground), luminance(background)].sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (parseInt(style.fontWeight, 10) >= 700 && size >= 18.66);
    const needed = large ? 3 : 4.5;
    if (ratio < needed) {
      problems.push(
        `contrast ${ratio.toFixed(2)}:1 < ${needed}:1 for "${text.slice(0, 40)}" ` +
        `(${rgb(foreground)} on ${rgb(background)}, <${element.tagName.toLowerCase()}` +
        `${element.className ? ` class="${element.className}"` : ""}>)`
      );
    }
  }
  for (const control of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
    const labelled = (control.labels && control.labels.length > 0)
      || control.getAttribute("aria-label") || control.getAttribute("aria-labelledby");
    if (!labelled) {
      problems.push(`no label: <${control.tagName.toLowerCase()} name="${control.name}">`);
    }
  }
  for (const control of document.querySelectorAll("a[href], button")) {
    const named = control.textContent.trim() || control.getAttribute("aria-label")
      || control.getAttribute("aria-labelledby") || control.querySelector("img[alt]");
    if (!named) problems.push(`no accessible name: <${control.tagName.toLowerCase()}>`);
  }
  return problems;
}
"""


def accessibility_problems(page: Page) -> list[str]:
    """What the audit found wrong on the page as it is now; empty when nothing."""
    found: list[str] = page.evaluate(AUDIT)
    return found
