"""The pages on a phone's 420 px wide screen, in Debian's chromium
(headless, through Playwright, as tests/test_web_browser.py), against
the web on a loopback port: no page is cut off at the screen's edge,
and a table wider than the screen scrolls inside its own section."""

import pytest_twisted
from playwright.sync_api import sync_playwright
from twisted.internet import threads

from tests.test_web_browser import launch
from tests.webhelpers import web  # noqa: F401

WIDTH = 420
PATHS = ("/", "/builders", "/builds", "/builds/8", "/queue", "/builders/bob")

# For each table: how its box lets it overflow, its width and its box's.
MEASURE = """() => [document.documentElement.scrollWidth,
  [...document.querySelectorAll('table')].map(table => [
    getComputedStyle(table.parentElement).overflowX,
    table.getBoundingClientRect().width,
    table.parentElement.clientWidth])]"""


def measure(url):
    """{path: (the page's width, [(overflow, table width, box width)])}."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": WIDTH, "height": 800})
            found = {}
            for path in PATHS:
                assert page.goto(url + path).status == 200, path
                found[path] = page.evaluate(MEASURE)
            return found
        finally:
            browser.close()


@pytest_twisted.ensureDeferred
async def test_no_page_is_cut_off_on_a_420px_screen(web, sample, session):
    sample.frog.failBuilder("Dispatch of a private build failed: its slave could not "
                            "be reached (the master's log says more)")
    session.commit()
    measured = await threads.deferToThread(measure, web.url)
    for path, (page_width, tables) in measured.items():
        assert page_width <= WIDTH, (path, page_width)
        for overflow, width, box in tables:
            assert width <= box + 1 or overflow in ("auto", "scroll"), (path, overflow)
