"""In a real browser: an admin adds a required field in the simple editor and publishes it; a
resident on a phone sees the new field and, sending it empty, gets the Chinese error beside it.

Drives Debian's headless Chromium through Playwright against the real app, served by Werkzeug on a
free local port (SQLite file, demo accounts). Screenshots go to test-output/browser/.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
OUTPUT = ROOT / "test-output" / "browser"
FORM, ITEM = "legal-consultation", "S05"


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing (pip install -e '.[test]')")
    return sync_playwright


@pytest.fixture
def live_app(tmp_path):
    """The real app with CSRF on, served in a thread; yields its base URL."""
    sync_playwright = _playwright()
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from qunti import create_app
    from qunti.accounts.demo import load_demo_accounts
    from qunti.catalog import state
    from qunti.db import db
    from qunti.sync import sync

    app = create_app({"DATABASE_URL": "sqlite:///" + str(tmp_path / "live.sqlite3"),
                      "INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "browser-test"})
    with app.app_context():
        upgrade()
        sync(state().catalog)
        load_demo_accounts()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                yield f"http://127.0.0.1:{server.server_port}", browser
            finally:
                browser.close()
    finally:
        server.shutdown()
        thread.join()
        with app.app_context():
            db.engine.dispose()


def test_admin_adds_a_required_field_and_a_resident_on_a_phone_must_fill_it(live_app):
    from qunti.accounts.demo import DEMO_PASSWORD

    base, browser = live_app
    OUTPUT.mkdir(parents=True, exist_ok=True)

    admin = browser.new_context(viewport={"width": 1366, "height": 1000}, locale="zh-CN")
    page = admin.new_page()
    page.goto(f"{base}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/forms/")
    page.locator("tr", has=page.locator(f"code:text-is('{FORM}')")).get_by_role("link", name="简单编辑").click()
    page.wait_for_url(f"{base}/admin/forms/{FORM}/fields")
    page.fill("#new_key", "wechat")
    page.fill("#new_title", "微信号")
    page.select_option("#new_type", "text")
    page.fill("#new_help", "方便工作人员联系您")
    page.check("#new_required")
    page.get_by_role("button", name="添加字段").click()
    page.wait_for_selector("#unpublished")
    preview = page.frame_locator("iframe[title='居民看到的表单（预览）']")
    assert preview.locator("label[for=wechat]").inner_text().startswith("微信号")
    page.screenshot(path=str(OUTPUT / "admin-simple-editor.png"), full_page=True)
    page.get_by_role("button", name="发布", exact=True).click()
    page.wait_for_url(f"{base}/admin/forms/{FORM}/")
    assert "已发布第 2 版" in page.content()
    admin.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2, locale="zh-CN")
    resident = phone.new_page()
    resident.goto(f"{base}/services/{ITEM}")
    field = resident.locator("div.field[data-path='/wechat']")
    assert field.locator("label").inner_text().startswith("微信号")
    assert field.locator("input[name=wechat]").get_attribute("required") is not None
    # The phone's own check would stop an empty required field before the server sees it; turn it
    # off to get what the server answers (and what a browser without that check shows).
    resident.eval_on_selector("form.qunti-form", "form => { form.noValidate = true; }")
    resident.fill("input[name=name]", "王小明")
    resident.locator("form.qunti-form button.submit").click()
    resident.wait_for_selector("div.field[data-path='/wechat'] .field-error")
    assert field.locator(".field-error").inner_text() == "微信号：必填"
    field.scroll_into_view_if_needed()
    resident.screenshot(path=str(OUTPUT / "resident-required-error.png"))
    phone.close()
