"""The accessibility audit the dashboard flow runs on every page finds what it should, and
only that (a static page in the same headless Chromium; no server)."""

from __future__ import annotations

import pytest

from tests.browser.accessibility import accessibility_problems
from tests.browser.conftest import Tab

pytestmark = pytest.mark.slow(seconds=3)

PAGE = """<!doctype html><html lang="en"><head><style>
  body { color: #1f2328; background: #ffffff; font-size: 16px; }
  .faint { color: #aaaaaa; }
  .panel { background: rgba(0, 0, 0, 0.75); color: #ffffff; }
  .big { color: #888888; font-size: 24px; }
  .hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
</style></head><body>
  <p>Readable text.</p>
  <p class="faint">Too faint to read.</p>
  <div class="panel"><p>White on a translucent dark panel.</p></div>
  <p class="big">Large grey heading text.</p>
  <span class="hidden faint">Only for screen readers.</span>
  <button class="faint" disabled>Disabled button</button>
  <label for="named">Name</label><input id="named">
  <input aria-label="Search">
  <input type="hidden" name="csrf_token" value="x">
  <input name="nameless">
  <select name="pick"><option>One</option></select>
  <a href="/somewhere">A link</a>
  <a href="/nowhere"></a>
  <button aria-label="Close"></button>
</body></html>"""


def test_the_audit_finds_faint_text_unlabelled_controls_and_nameless_links(tab: Tab) -> None:
    tab.page.set_content(PAGE)

    problems = accessibility_problems(tab.page)

    assert len(problems) == 4, problems
    [faint, nameless_input, nameless_select, nameless_link] = problems
    assert faint.startswith('contrast 2.32:1 < 4.5:1 for "Too faint to read."')
    assert nameless_input == 'no label: <input name="nameless">'
    assert nameless_select == 'no label: <select name="pick">'
    assert nameless_link == "no accessible name: <a>"


def test_a_clean_page_has_no_problems(tab: Tab) -> None:
    tab.page.set_content('<!doctype html><p>Fine.</p><label>Key <input name="key"></label>')

    assert accessibility_problems(tab.page) == []
