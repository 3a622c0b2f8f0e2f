"""The real app in Chromium: "Check with PyTorch" on the default network (paper-2012)
ticks every row of the table."""

from __future__ import annotations

import pytest
from conftest import screenshot, wait_for_app


@pytest.mark.browser
def test_browser_check_with_pytorch_ticks_every_row(page, app_server):
    pg = page
    pg.goto(app_server.url + "/architecture")
    pg.get_by_role("button", name="Check with PyTorch").wait_for(timeout=120_000)
    wait_for_app(pg, 60_000)
    pg.get_by_role("button", name="Check with PyTorch").click()
    pg.get_by_text("PyTorch agrees with every row", exact=False).wait_for(timeout=180_000)
    rows = pg.locator("table.verify tbody tr[data-name]")
    assert rows.count() == 23 and pg.locator("table.verify td.bad").count() == 0
    assert pg.locator("table.verify td.ok").count() == 3 * 23
    pg.get_by_text("PyTorch agrees with every row", exact=False).evaluate("e => e.scrollIntoView({block: 'start'})")
    pg.wait_for_timeout(1000)
    screenshot(pg, "verify-paper-2012")
