"""The HTML digest in a real browser: Debian's chromium, headless, driven by Playwright.

No browser is downloaded: Playwright starts the system ``chromium`` (scripts/test.sh
installs it where missing). The page is the demo community's digest as ``cohortbot demo``
writes it, loaded from file://; the test checks that the charts are drawn (SVG elements
with real sizes, one bubble per segment, one line per segment), the tables are filled, and
that the page asked the network for nothing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from digest_support import DEMO_END, DEMO_WEEK, demo_community

from bot.digest_command import write_demo_digest
from bot.store import Store
from segmentation.config import load_config

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


async def test_demo_digest_files_are_written_next_to_the_database(
    store: Store, db_url: str, tmp_path: Path
) -> None:
    await demo_community(db_url, tmp_path, members=40)
    html, md = await write_demo_digest(store, tmp_path / "demo" / "demo.db", now=DEMO_END)
    assert html == (tmp_path / "demo" / f"digest-{DEMO_WEEK}.html").resolve()
    assert md == html.with_suffix(".md")
    assert "<svg" in html.read_text(encoding="utf-8")
    assert md.read_text(encoding="utf-8").startswith(f"# Community digest, week {DEMO_WEEK}")


async def test_html_digest_draws_its_charts_in_chromium(store: Store, db_url: str, tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH (scripts/test.sh installs Debian's chromium with apt-get)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    await demo_community(db_url, tmp_path, members=60)
    page_path, _ = await write_demo_digest(store, tmp_path / "demo" / "demo.db", now=DEMO_END)
    segments = len(load_config().segments)

    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-background-networking"]
        )
        try:
            page = await browser.new_page()
            requested: list[str] = []
            page.on("request", lambda r: requested.append(r.url))
            await page.goto(page_path.as_uri())
            await page.wait_for_load_state("load")

            charts = page.locator("svg.chart")
            assert await charts.count() == 2
            for i in range(2):
                box = await charts.nth(i).bounding_box()
                assert box is not None and box["width"] > 200 and box["height"] > 200

            bubbles = page.locator("svg.matrix circle.bubble")
            assert await bubbles.count() == segments
            for i in range(segments):
                box = await bubbles.nth(i).bounding_box()
                assert box is not None and box["width"] > 0 and box["height"] > 0
            sizes = await bubbles.evaluate_all("els => els.map(e => Number(e.getAttribute('data-members')))")
            assert sum(sizes) > 0

            lines = page.locator("svg.activity polyline.series")
            assert await lines.count() == segments
            widths = [(await lines.nth(i).bounding_box() or {"width": 0})["width"] for i in range(segments)]
            assert all(w > 100 for w in widths)

            rows = page.locator("table.segments tbody tr")
            assert await rows.count() == segments
            cells = await page.locator("table.segments tbody td").all_inner_texts()
            assert all(c.strip() for c in cells)
            assert await page.locator("table.helpers tbody tr").count() > 0
            assert "Community digest" in (await page.title())
            assert requested == [page_path.as_uri()]  # nothing else was fetched
        finally:
            await browser.close()
