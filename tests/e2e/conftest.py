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


@pytest.fixture
def page(monkeypatch):
    if not Path(CHROMIUM).exists():
        service_missing("Chromium (/usr/bin/chromium, Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        service_missing("Playwright (pip install playwright)")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself are still sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            context.close()
            browser.close()
            # The connection this thread used while Playwright's loop ran would outlive the test database.
            connections.close_all()
