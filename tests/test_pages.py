import io
import resource
import time

import pytest
from conftest import PDF_SAMPLES, SAMPLE
from pdfgen import write_pdf
from PIL import Image
from pypdf import PdfReader, PdfWriter

from ragapp import pages
from ragapp.loaders import load
from ragapp.pages import MAX_PIXELS, RENDER_TIMEOUT_S, PageError, Renderer, render_pdf_page, text_context
from ragapp.splitter import split

GUIDE = SAMPLE / "benefits-guide.pdf"
MULTICOLUMN = PDF_SAMPLES / "026-latex-multicolumn" / "multicolumn.pdf"
PASSWORD = PDF_SAMPLES / "005-libreoffice-writer-password" / "libreoffice-writer-password.pdf"


def passage_with(path, words):
    """The passage of a real PDF, cut as ingestion cuts it, that contains `words`."""
    doc = load(path, path.parent)
    return next(p for p in split(doc, lambda t: len(t.split()), 60, 10) if words in p.text)


def image(rendered):
    return Image.open(io.BytesIO(rendered.png)).convert("RGB")


def yellow_share(img, box):
    """Share of the pixels in `box` that are yellow: red and green high, blue clearly lower."""
    pixels = list(img.crop(box).getdata())
    return sum(r > 220 and g > 200 and r - b > 60 for r, g, b in pixels) / len(pixels)


def test_cited_passage_is_highlighted_on_its_page():
    passage = passage_with(GUIDE, "1,500")
    assert passage.page == 3
    rendered = render_pdf_page(GUIDE, passage.page, passage.text, scale=1.5)
    assert rendered.highlighted and rendered.boxes
    box = PdfReader(GUIDE).pages[2].mediabox
    img = image(rendered)
    assert abs(img.width - float(box.width) * 1.5) <= 1 and abs(img.height - float(box.height) * 1.5) <= 1
    plain = image(render_pdf_page(GUIDE, passage.page, "", scale=1.5))
    assert plain.size == img.size
    for box in rendered.boxes:
        assert yellow_share(img, box) > 0.3
        assert yellow_share(plain, box) == 0
    # The passage starts at the page's heading and ends before "Referral bonus", further down.
    assert min(b[1] for b in rendered.boxes) < 100 < max(b[3] for b in rendered.boxes) < img.height / 3


@pytest.mark.skipif(not MULTICOLUMN.exists(), reason="shared PDF corpus not present")
def test_passage_in_one_column_of_a_two_column_page():
    passage = passage_with(MULTICOLUMN, "Sed commodo posuere pede")
    rendered = render_pdf_page(MULTICOLUMN, passage.page, passage.text)
    assert rendered.highlighted
    width = image(rendered).width
    # Column-wide lines of the left column only, not page-wide bands across both columns.
    assert all(x0 < 0.2 * width and x1 - x0 < 0.45 * width for x0, _, x1, _ in rendered.boxes)


def test_highlight_follows_a_rotated_and_cropped_page(tmp_path):
    writer = PdfWriter()
    writer.add_page(PdfReader(GUIDE).pages[2])
    writer.pages[0].rotate(90)
    writer.pages[0].cropbox.lower_left = (40, 300)
    path = tmp_path / "turned.pdf"
    writer.write(path)
    rendered = render_pdf_page(path, 1, "Every employee has a learning budget of 1,500 euros per year")
    assert rendered.highlighted and len(rendered.boxes) == 1  # one line, running down the image
    x0, y0, x1, y1 = rendered.boxes[0]
    assert y1 - y0 > 5 * (x1 - x0)
    plain = image(render_pdf_page(path, 1, ""))
    assert any(sum(px) < 200 for px in plain.crop(rendered.boxes[0]).getdata())  # text under it


def test_passage_not_on_the_page_is_not_highlighted():
    rendered = render_pdf_page(GUIDE, 1, "Quarterly revenue of the Zurich subsidiary exceeded all forecasts")
    assert not rendered.highlighted and rendered.boxes == []
    assert image(rendered).width > 0
    assert not render_pdf_page(GUIDE, 1, "").highlighted


def test_missing_file_is_a_page_error(tmp_path):
    with pytest.raises(PageError, match="no longer at"):
        render_pdf_page(tmp_path / "gone.pdf", 1, "text")


@pytest.mark.parametrize("page", [0, 4, 99])
def test_page_out_of_range_is_a_page_error(page):
    with pytest.raises(PageError, match=f"^Cannot show page {page} of benefits-guide.pdf: it has 3 pages.$"):
        render_pdf_page(GUIDE, page, "text")


@pytest.mark.skipif(not PASSWORD.exists(), reason="shared PDF corpus not present")
def test_password_protected_pdf_is_a_page_error():
    with pytest.raises(PageError, match="^Cannot show libreoffice-writer-password.pdf: it is password-protected.$"):
        render_pdf_page(PASSWORD, 1, "text")


def test_file_that_is_no_pdf_is_a_page_error(tmp_path):
    path = tmp_path / "fake.pdf"
    path.write_text("not a PDF at all")
    with pytest.raises(PageError, match="^Cannot show fake.pdf: PDFium cannot open it"):
        render_pdf_page(path, 1, "text")


LONG = "".join(f"Line {i}: " + "lorem ipsum dolor sit amet " * 3 + "\n" for i in range(300))


def test_context_in_the_middle_of_a_long_text():
    start = LONG.index("Line 150:")
    end = start + 40
    before, middle, after = text_context(LONG, start, end, around=500)
    assert middle == LONG[start:end]
    assert before.startswith("\u2026") and after.endswith("\u2026")
    assert 300 < len(before) <= 501 and 300 < len(after) <= 501
    # Cut at a boundary: whole words (here whole lines) on either side.
    assert LONG[:start].endswith(before[1:])
    assert LONG[start - len(before)] in " \n"
    assert LONG[end:].startswith(after[:-1])
    assert LONG[end + len(after) - 1] in " \n"
    assert before[1:].startswith("Line ")


def test_context_at_the_start_and_end_of_the_text():
    before, middle, after = text_context(LONG, 0, 30)
    assert before == "" and middle == LONG[:30] and after.endswith("\u2026")
    before, middle, after = text_context(LONG, 10, 30)
    assert before == LONG[:10]  # nothing cut, no "…"
    size = len(LONG)
    before, middle, after = text_context(LONG, size - 30, size)
    assert before.startswith("\u2026") and middle == LONG[-30:] and after == ""


def test_context_clamps_odd_offsets():
    size = len(LONG)
    assert text_context(LONG, size + 10, size + 50)[1:] == ("", "")
    assert text_context(LONG, -5, 20) == ("", LONG[:20], text_context(LONG, 0, 20)[2])
    assert text_context(LONG, 50, 10)[1] == ""
    assert text_context("", 3, 9) == ("", "", "")
    short = "A short file."
    assert text_context(short, 2, 7) == ("A ", "short", " file.")
    assert "".join(text_context("x" * 5000, 2500, 2510, around=100)).count("x") == 210  # no spaces to cut at


@pytest.fixture
def huge_pdf(tmp_path):
    """One page of 14,400 points square (the largest a PDF page may be): at the usual scale, a
    bitmap of 21,600 pixels square, 1.4 GB."""
    small = write_pdf(tmp_path / "small.pdf", [["The parking permit for staff costs forty euros a month."]])
    writer = PdfWriter()
    writer.add_page(PdfReader(small).pages[0])
    writer.pages[0].scale_to(14400, 14400)
    path = tmp_path / "poster.pdf"
    writer.write(path)
    return path


def test_a_huge_page_cited_is_drawn_whole_within_the_pixel_limit(huge_pdf):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    rendered = render_pdf_page(huge_pdf, 1, "The parking permit for staff costs forty euros a month.")
    took = time.monotonic() - started
    img = image(rendered)
    assert img.width * img.height <= MAX_PIXELS and img.width > 0.99 * 4096 and abs(img.width - img.height) <= 1
    assert took < 10
    assert rendered.highlighted and len(rendered.boxes) == 1
    assert yellow_share(img, rendered.boxes[0]) > 0.3
    # The text sits at the top of the page (its first line's position, scaled with the page).
    assert rendered.boxes[0][3] < img.height * 0.15
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024  # not this process's bitmap


@pytest.fixture
def renderer(monkeypatch):
    """Installs a Renderer with the given draw function and time limit for render_pdf_page."""
    made = []

    def install(draw, timeout_s=RENDER_TIMEOUT_S):
        made.append(Renderer(draw, timeout_s))
        monkeypatch.setattr(pages, "_RENDERER", made[-1])

    yield install
    for one in made:
        one.stop()


def test_a_render_that_hangs_is_stopped_at_the_time_limit(renderer):
    renderer("hostile_worker:draw_forever", timeout_s=2)
    started = time.monotonic()
    with pytest.raises(PageError, match=r"Cannot show page 1 of benefits-guide.pdf: drawing it took longer than 2 s"):
        render_pdf_page(GUIDE, 1, "text")
    assert time.monotonic() - started < 4


def test_a_crash_while_drawing_is_a_page_error_and_the_next_page_is_drawn(renderer):
    renderer("hostile_worker:draw_or_crash")
    assert image(render_pdf_page(GUIDE, 1, "")).width > 0
    crashed = r"Cannot show page 2 of benefits-guide.pdf: the renderer crashed on it \(signal 11\)"
    with pytest.raises(PageError, match=crashed):
        render_pdf_page(GUIDE, 2, "")
    assert render_pdf_page(GUIDE, 3, "Every employee has a learning budget of 1,500 euros per year").highlighted


@pytest.mark.parametrize("page, reason", [
    (1, "an image that is not a PNG"),
    (2, "an image of 100000 x 100000 pixels, over the limit"),
])
def test_an_image_the_renderer_should_never_send_is_refused(renderer, page, reason):
    renderer("hostile_worker:draw_forged")
    with pytest.raises(PageError, match=rf"the renderer sent a malformed reply \({reason}\)"):
        render_pdf_page(GUIDE, page, "")
