"""Browser tests: Debian Chromium driven by Playwright against pytest-django's live server.

Screenshots of every step are kept as test artifacts in var/test-artifacts (WAYBILL_TEST_ARTIFACTS to choose)."""

import os
from pathlib import Path

import pytest
from django.db import connections

from tests.conftest import service_missing

ARTIFACTS = Path(os.environ.get("WAYBILL_TEST_ARTIFACTS",
                                Path(__file__).resolve().parents[2] / "var" / "test-artifacts"))
ARTIFACTS.mkdir(parents=True, exist_ok=True)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


# What the Content-Security-Policy refuses on purpose: ReDoc's "API docs by Redocly" logo, from its CDN.
CSP_BLOCKED_ON_PURPOSE = ("https://cdn.redoc.ly/",)
CSP_REPORTER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolation({page: location.pathname, directive: e.violatedDirective, blocked: e.blockedURI,
                         sample: e.sample, source: e.sourceFile, line: e.lineNumber});
});
"""


@pytest.fixture
def csp_violations() -> list:
    """Every Content-Security-Policy violation the pages of a browser test report (the `securitypolicyviolation`
    event, or the console's error), except what the policy refuses on purpose. A browser test fails with any."""
    return []


def _watch_csp(context, violations: list) -> None:
    def record(report) -> None:
        if not any(url in str(report) for url in CSP_BLOCKED_ON_PURPOSE):
            violations.append(report)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            record({"console": message.text, "page": message.page.url if message.page else ""})

    context.expose_function("__cspViolation", record)
    context.add_init_script(CSP_REPORTER)
    context.on("console", on_console)


@pytest.fixture
def page(monkeypatch, csp_violations):
    if not Path(CHROMIUM).exists():
        service_missing("Chromium (/usr/bin/chromium, Debian package chromium)")
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        service_missing("Playwright (pip install playwright)")
    # Assertions wait for their condition; on a busy two-core CI machine a page can take longer than the 5 s
    # default to answer (the condition is the same, only the patience is longer).
    expect.set_options(timeout=15_000)
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        _watch_csp(context, csp_violations)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The connection this thread used while Playwright's loop ran would outlive the test database.
            connections.close_all()
    assert csp_violations == [], f"Content-Security-Policy violations: {csp_violations}"
