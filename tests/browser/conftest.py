"""Browser fixtures: `backbeat serve` as a subprocess (SQLite, a fake model server, a local
SMTP server and a local web page), a team made with the CLI, and Debian's Chromium driven by
Playwright for Python.

The browser is the machine's own Chromium (Debian's `chromium` package, which `.ci/run`
installs), launched through `executable_path`: Playwright's browser download is never used.
Without it the tests fail, saying what to install; they never skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright

from backbeat.testing.fake_models import FakeModelServer
from tests.acceptance.conftest import Server, cli_json, serving
from tests.browser.accessibility import accessibility_problems
from tests.processes import clean_env
from tests.tools.helpers import LocalSmtpServer, serve_page

# The flags a headless Chromium needs on these machines (as root, on a closed network).
# Playwright adds --headless itself and gives every launch a new, empty profile directory.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
SCREENSHOT_DIR_ENV = "BACKBEAT_SCREENSHOT_DIR"
SHOWN_HEIGHT = 1400
# Where a page's content ends: the bottom of <main> less most of its bottom padding.
CONTENT_BOTTOM = """
Math.ceil(document.querySelector("main").getBoundingClientRect().bottom + window.scrollY) - 24
"""
# The server's clock starts here (a Monday morning) so fire times and pages are the same on
# every run; the scheduler fires nothing of the tasks below during a test.
CLOCK_START = "2026-03-02T10:00:00Z"

OWNER = "owner@label.example"
SENDER = "backbeat@label.example"
ARTIST = "Nova Lights"
PROFILE = '{"genre": "synth-pop", "city": "Lisbon", "goal": "grow the Berlin audience"}'
PAGE_PATH = "/artists/nova-lights/news"
PAGE_HTML = (
    b"<!doctype html><html><head><title>Nova Lights news</title></head><body>"
    b"<h1>Latest news</h1><p>Nova Lights announce a sold-out show at Lido Berlin on 14 March.</p>"
    b"</body></html>"
)


def chromium_path() -> str:
    """Debian's Chromium, or a failure that says how to get it (never a skip)."""
    found = shutil.which("chromium") or (
        "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if found is None:
        pytest.fail(
            "Chromium is not installed: the browser tests drive Debian's chromium package "
            "(/usr/bin/chromium). Install it with `apt-get install -y chromium` (.ci/run does)."
        )
    return found


# --- Local servers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A running Backbeat with one account (key in hand), its artist, and its helpers."""

    server: Server
    models: FakeModelServer
    smtp: LocalSmtpServer
    news_url: str
    account_id: str
    artist_id: str
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def make_account(env: dict[str, str]) -> tuple[str, str, str]:
    """The owner's account, an artist of it and an API key, with the CLI (as an operator)."""
    owner = cli_json(env, "accounts", "create", "--email", OWNER, "--name", "Owner")
    with ThreadPoolExecutor(2) as pool:  # each CLI call starts Python: run both at once
        artist = pool.submit(
            cli_json,
            env,
            *("artists", "create", "--name", ARTIST, "--account", owner["id"]),
            *("--profile", PROFILE),
        )
        key = pool.submit(cli_json, env, "keys", "create", "--account", owner["id"])
        return owner["id"], artist.result()["id"], key.result()["key"]


@contextmanager
def open_site(tmp_path: Path, **settings: str) -> Iterator[Site]:
    """`python -m backbeat serve` on a SQLite file, its Anthropic provider pointed at a fake
    model server, send_email at a local SMTP server, and `settings` on top; stopped (SIGINT)
    afterwards."""
    with (
        FakeModelServer() as models,
        LocalSmtpServer() as smtp,
        serve_page(PAGE_PATH, PAGE_HTML) as news_url,
    ):
        defaults = {
            "BACKBEAT_DATABASE_URL": f"sqlite:///{tmp_path / 'backbeat.db'}",
            "BACKBEAT_CLOCK_START": CLOCK_START,
            "BACKBEAT_ANTHROPIC_API_KEY": "sk-test",
            "BACKBEAT_ANTHROPIC_BASE_URL": models.url_anthropic,
            "BACKBEAT_WORKER_POLL_SECONDS": "0.2",
            "BACKBEAT_FETCH_ALLOW_PRIVATE": "true",
            "BACKBEAT_SMTP_HOST": "127.0.0.1",
            "BACKBEAT_SMTP_PORT": str(smtp.port),
            "BACKBEAT_SMTP_FROM": SENDER,
            "BACKBEAT_SMTP_STARTTLS": "false",
        }
        env = clean_env(**{**defaults, **settings})
        account_id, artist_id, key = make_account(env)
        with serving(env, tmp_path) as server:
            yield Site(server, models, smtp, news_url, account_id, artist_id, key)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    with open_site(tmp_path) as found:
        yield found


# --- The browser -----------------------------------------------------------------------------


@pytest.fixture
def browser() -> Iterator[Browser]:
    executable = chromium_path()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield launched
        finally:
            launched.close()


# Reports every Content-Security-Policy violation on the console (the browser logs most of
# them itself; this catches the rest). Injected by the browser, so the page's CSP allows it.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + event.blockedURI);
});
"""


@dataclass
class BrowserLog:
    """What went wrong in the page: console errors, uncaught exceptions, CSP violations."""

    problems: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        line = f"[{message.type}] {message.text} ({message.location.get('url', '')})"
        self.messages.append(line)
        if message.type == "error" or "Content Security Policy" in message.text:
            self.problems.append(line)

    def on_page_error(self, error: Exception) -> None:
        line = f"[pageerror] {error}"
        self.messages.append(line)
        self.problems.append(line)

    def take(self) -> list[str]:
        """The problems so far, forgotten (for a step that expects some)."""
        found, self.problems = self.problems, []
        return found


@dataclass
class Tab:
    """One page in a fresh context, with its log and a camera."""

    page: Page
    log: BrowserLog
    shots: Path
    extra_shots: Path | None
    taken: list[Path] = field(default_factory=list)

    def shoot(self, name: str) -> Path:
        """A full-page screenshot into the test's folder (numbered, in visiting order); and,
        when $BACKBEAT_SCREENSHOT_DIR is set, `name.png` there: the page down to the end of
        its content, at most SHOWN_HEIGHT pixels tall (as the README shows them).

        Every page state photographed is also audited (tests/browser/accessibility.py):
        contrast, labels, names. A problem fails the test, after the screenshot is saved."""
        path = self.shots / f"{len(self.taken) + 1:02d}-{name}.png"
        self.page.screenshot(path=path, full_page=True)
        self.taken.append(path)
        problems = accessibility_problems(self.page)
        assert not problems, f"accessibility, page {name!r}:\n" + "\n".join(problems)
        if self.extra_shots is not None:
            bottom = self.page.evaluate(CONTENT_BOTTOM)
            height = max(200, min(int(bottom), SHOWN_HEIGHT))
            clip = {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height}
            self.page.screenshot(
                path=self.extra_shots / f"{name}.png",
                full_page=True,
                clip=clip,  # type: ignore[arg-type]
            )
        return path


@pytest.fixture
def tab(browser: Browser, tmp_path: Path) -> Iterator[Tab]:
    context: BrowserContext = browser.new_context(
        viewport=VIEWPORT,  # type: ignore[arg-type]
        device_scale_factor=1,
        locale="en-GB",
        timezone_id="Europe/London",
        color_scheme="light",
    )
    context.set_default_timeout(10_000)
    log = BrowserLog()
    page = context.new_page()
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    extra = os.environ.get(SCREENSHOT_DIR_ENV)
    extra_shots = Path(extra) if extra else None
    if extra_shots is not None:
        extra_shots.mkdir(parents=True, exist_ok=True)
    try:
        yield Tab(page, log, shots, extra_shots)
    finally:
        context.close()
