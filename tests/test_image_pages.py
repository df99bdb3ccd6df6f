"""A cited image file (PNG, JPEG, TIFF, read by OCR) opens as the image itself, the passage's words
highlighted from OCR word boxes, drawn by the page renderer's worker within its limits."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from ragapp import ocr, pages
from ragapp.loaders import load
from ragapp.pages import MAX_PIXELS, MAX_SIDE, PageError, Renderer, render_image

needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract is not installed (`make tesseract` installs it)"
)

DPI = 200
NOTICE = [
    "Quarterly safety notice for the Northgate warehouse",
    "Forklift inspections are due every second Monday.",
    "Aisle seven stays closed while the racking is repaired.",
    "Visitors must sign in at the gatehouse before entering.",
    "Night shifts end at six and hand over to the morning crew.",
    "Spill kits are stored beside each loading dock door.",
]
ROTA = [
    "Canteen rota for the spring term",
    "Soup is served from noon until half past one.",
    "The salad bar is restocked every afternoon at three.",
    "Fresh bread arrives from the bakery each morning.",
]


def _font_file() -> str | None:
    """DejaVu Sans: fontconfig's, else matplotlib's copy."""
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", "-f", "%{file}", "DejaVuSans"], capture_output=True, text=True).stdout
        if found.lower().endswith(".ttf") and Path(found).is_file():
            return found
    try:
        import matplotlib
    except ImportError:
        return None
    found = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    return str(found) if found.is_file() else None


FONT_FILE = _font_file()  # found now: some tests take PATH (and fc-match with it) away


def _font(size: int) -> ImageFont.FreeTypeFont:
    if FONT_FILE is None:
        pytest.skip("no TrueType font (DejaVu Sans) on this machine")
    return ImageFont.truetype(FONT_FILE, size)


def _page(lines: list[str], size: tuple[int, int], top: int, points: float = 12) -> tuple[Image.Image, list[tuple[int, int, int, int]]]:
    """A white grayscale page of `size` pixels with the lines printed at `points` pt (at DPI), the
    first at `top`; and each line's box in pixels."""
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    font = _font(round(points * DPI / 72))
    step = round(points * DPI / 72 * 1.8)
    boxes = []
    for number, line in enumerate(lines):
        xy = (round(size[0] * 0.08), top + number * step)
        draw.text(xy, line, fill=0, font=font)
        boxes.append(draw.textbbox(xy, line, font=font))
    return image, boxes


def _passage(page_text: str, first: str, last: str) -> str:
    """The span of the OCR text from the line holding `first` to the end of the line holding `last`:
    a passage as the ingest cuts one from the page."""
    start = page_text.index(first)
    start = page_text.rfind("\n", 0, start) + 1
    end = page_text.index(last)
    end = page_text.find("\n", end)
    return page_text[start : end if end >= 0 else len(page_text)]


def _shown(rendered) -> Image.Image:
    return Image.open(io.BytesIO(rendered.png)).convert("RGB")


def _yellow_share(img: Image.Image, box) -> float:
    pixels = list(img.crop(box).getdata())
    return sum(r > 220 and g > 200 and r - b > 60 for r, g, b in pixels) / len(pixels)


def _check_highlight(rendered, line_boxes, cited: set[int], scale: float) -> None:
    """The highlight covers the cited lines (drawn at line_boxes, shown at `scale`), and only them."""
    assert rendered.highlighted and rendered.boxes
    img = _shown(rendered)
    lines = [tuple(v * scale for v in box) for box in line_boxes]
    for box in rendered.boxes:
        assert _yellow_share(img, box) > 0.3
        middle = (box[1] + box[3]) / 2
        on = [i for i, (_, y0, _, y1) in enumerate(lines) if y0 - 4 <= middle <= y1 + 4]
        assert len(on) == 1 and on[0] in cited, (box, on, lines)
    for i in cited:
        x0, y0, x1, y1 = lines[i]
        covering = [b for b in rendered.boxes if b[1] <= (y0 + y1) / 2 <= b[3]]
        assert covering, (i, rendered.boxes)
        # The words of the line, end to end: the box starts at its first letter and ends at its last.
        assert abs(min(b[0] for b in covering) - x0) <= 8 and abs(max(b[2] for b in covering) - x1) <= 8, (lines[i], covering)
        assert all(b[1] <= y0 + 4 and b[3] >= y1 - 4 for b in covering), (lines[i], covering)


@needs_tesseract
def test_a_cited_png_is_shown_with_its_passage_highlighted(tmp_path):
    image, line_boxes = _page(NOTICE, (1600, 1100), top=120)
    path = tmp_path / "notice.png"
    image.save(path, dpi=(DPI, DPI))
    doc = load(path, tmp_path)  # the ingest's own reading: OCR on the image as it reads it
    (page,) = doc.pages
    assert page.number is None
    passage = _passage(page.text, "Aisle seven", "gatehouse")
    rendered = render_image(path, None, passage)
    assert _shown(rendered).size == image.size  # within the limits: shown at its own size
    _check_highlight(rendered, line_boxes, cited={2, 3}, scale=1.0)
    # Text that is not on the image: shown, nothing highlighted.
    elsewhere = render_image(path, None, "Quarterly revenue of the Zurich subsidiary exceeded all forecasts")
    assert not elsewhere.highlighted and elsewhere.boxes == [] and _shown(elsewhere).size == image.size


@needs_tesseract
def test_a_tiff_frame_is_highlighted_on_its_own_frame(tmp_path):
    first, _ = _page(NOTICE, (1400, 1000), top=100)
    second, rota_boxes = _page(ROTA, (1400, 1000), top=420)
    path = tmp_path / "two-pages.tiff"
    first.save(path, save_all=True, append_images=[second], dpi=(DPI, DPI))
    doc = load(path, tmp_path)
    assert [p.number for p in doc.pages] == [1, 2]
    passage = _passage(doc.pages[1].text, "Soup is served", "salad bar")
    rendered = render_image(path, 2, passage)
    _check_highlight(rendered, rota_boxes, cited={1, 2}, scale=1.0)
    on_first = render_image(path, 1, passage)  # frame 1 holds other words
    assert not on_first.highlighted and _shown(on_first).size == first.size
    with pytest.raises(PageError, match="^Cannot show page 3 of two-pages.tiff: it has 2 pages.$"):
        render_image(path, 3, passage)


@needs_tesseract
def test_a_large_image_is_read_and_shown_smaller_with_the_boxes_scaled(tmp_path):
    """Over OCR's pixel limit (read smaller, as the ingest read it) and over the display limit
    (shown smaller): the boxes land on the words of the image as shown."""
    image, line_boxes = _page(NOTICE, (3400, 5200), top=900, points=24)
    assert image.width * image.height > MAX_PIXELS > ocr.MAX_PIXELS
    path = tmp_path / "poster.png"
    image.save(path)
    doc = load(path, tmp_path)
    passage = _passage(doc.pages[0].text, "Forklift", "Aisle seven")
    rendered = render_image(path, None, passage)
    shown = _shown(rendered)
    assert shown.width * shown.height <= MAX_PIXELS and max(shown.size) <= MAX_SIDE
    assert abs(shown.width / shown.height - image.width / image.height) < 0.01
    _check_highlight(rendered, line_boxes, cited={1, 2}, scale=shown.width / image.width)


@pytest.mark.parametrize("size", [(5000, 3000), (3000, 5000), (4000, 4000)])
def test_the_scale_ocr_reads_an_image_at_is_the_one_boxes_are_mapped_from(monkeypatch, size):
    sent = []

    def tesseract(command, input, **kwargs):
        sent.append(Image.open(io.BytesIO(input)).size)
        return subprocess.CompletedProcess(command, 0, stdout=b"level\n", stderr=b"")

    monkeypatch.setattr(ocr.subprocess, "run", tesseract)
    ocr.read_words(Image.new("L", size, 255))
    scale = pages._ocr_read_scale(*size)
    assert scale < 1
    assert abs(sent[0][0] - size[0] * scale) <= 1 and abs(sent[0][1] - size[1] * scale) <= 1


@pytest.fixture
def renderer_without_tesseract(tmp_path, monkeypatch):
    """A render worker started with no Tesseract on its PATH (the worker inherits PATH)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    made = Renderer()
    monkeypatch.setattr(pages, "_RENDERER", made)
    yield made
    made.stop()


def test_without_tesseract_the_image_is_shown_unhighlighted(tmp_path, renderer_without_tesseract):
    image, _ = _page(NOTICE, (1200, 900), top=100)
    path = tmp_path / "notice.png"
    image.convert("RGB").save(path)
    rendered = render_image(path, None, " ".join(NOTICE[2:4]))
    assert not rendered.highlighted and rendered.boxes == []
    assert list(_shown(rendered).getdata()) == list(image.convert("RGB").getdata())  # the image itself


def test_an_image_over_the_display_limits_is_shown_whole_within_them(tmp_path, renderer_without_tesseract):
    path = tmp_path / "banner.png"
    banner = Image.new("RGBA", (12000, 1500), (0, 0, 0, 0))  # transparent: shown over white
    ImageDraw.Draw(banner).rectangle((0, 0, 5999, 1499), fill=(200, 0, 0, 255))
    banner.save(path)
    shown = _shown(render_image(path, None, ""))
    assert max(shown.size) <= MAX_SIDE and shown.width * shown.height <= MAX_PIXELS
    assert shown.width > 0.99 * MAX_SIDE and abs(shown.width / shown.height - 8) < 0.01
    assert shown.getpixel((10, 10)) == (200, 0, 0) and shown.getpixel((shown.width - 10, 10)) == (255, 255, 255)


def test_an_image_file_that_is_gone_or_no_image_is_a_page_error(tmp_path):
    with pytest.raises(PageError, match="no longer at"):
        render_image(tmp_path / "gone.png", None, "text")
    fake = tmp_path / "fake.png"
    fake.write_text("not an image at all")
    with pytest.raises(PageError, match="^Cannot show fake.png: Pillow cannot read it"):
        render_image(fake, None, "text")


def _source_view(path: str, page, text: str) -> None:
    """An app script (AppTest.from_function): show_source of a passage of the image at `path`."""
    from pathlib import Path

    from ragapp.documents import Passage
    from ragapp.pages import render_image
    from ui.source import show_source

    class Workspace:  # what show_source asks of the workspace, for one readable document
        def original(self, collection, doc_id):
            return Path(path)

        def page_image(self, collection, doc_id, page, passage_text):
            return render_image(Path(path), page, passage_text)

        def page_text(self, collection, doc_id, page):
            return text

    passage = Passage(id="p1", doc_id="d1", text=text, source=Path(path).name, path=path, title="t", page=page,
                      start=0, end=len(text), content_hash="h", index=0)
    show_source(Workspace(), "default", passage, key="k")


@needs_tesseract
@pytest.mark.parametrize("page", [None, 2])
def test_the_app_shows_a_cited_image_with_its_caption(tmp_path, page):
    from streamlit.testing.v1 import AppTest

    image, _ = _page(NOTICE, (1400, 1000), top=100)
    path = tmp_path / ("notice.png" if page is None else "notice.tiff")
    if page is None:
        image.save(path)
    else:
        _page(ROTA, (1400, 1000), top=100)[0].save(path, save_all=True, append_images=[image])
    text = _passage(load(path, tmp_path).pages[-1].text, "Aisle seven", "gatehouse")
    at = AppTest.from_function(_source_view, args=(str(path), page, text), default_timeout=60).run()
    assert not at.exception
    (shown,) = at.get("image")
    where = "notice.png" if page is None else "Page 2 of notice.tiff"
    assert _as_read(shown.captions[0]) == f"{where}: the cited passage is highlighted"
    assert not at.get("html")  # the image, not the text
    at = AppTest.from_function(_source_view, args=(str(path), page, "Nothing of the sort is written here at all"), default_timeout=60).run()
    place = "image" if page is None else "page image"
    assert _as_read(at.get("image")[0].captions[0]) == f"{where}: the passage could not be located on the {place}"


def _as_read(markdown: str) -> str:
    """What a person reads: captions are escaped Markdown (ui.render.inert)."""
    return re.sub(r"\\(.)", r"\1", markdown)


@needs_tesseract
def test_the_workspace_opens_an_ingested_image_with_its_cited_passage_highlighted(tmp_path, fake_pipeline):
    from ragapp.accounts import LOCAL_USER
    from ragapp.workspace import Workspace

    folder = tmp_path / "scans"
    folder.mkdir()
    image, line_boxes = _page(NOTICE, (1600, 1100), top=120)
    image.save(folder / "notice.png")
    (outcome,) = fake_pipeline.ingest([folder]).outcomes
    assert outcome.status == "added", outcome.describe()
    (record,) = fake_pipeline.documents()
    store = fake_pipeline.store()
    passages = store.passages_of(record.doc_id)
    workspace = Workspace(fake_pipeline, LOCAL_USER)
    collection = fake_pipeline.settings.collection
    for passage in passages:
        assert passage.page is None
        rendered = workspace.page_image(collection, record.doc_id, passage.page, passage.text)
        assert rendered.highlighted
        cited = {i for i, line in enumerate(NOTICE) if line.split()[1] in passage.text}
        _check_highlight(rendered, line_boxes, cited=cited, scale=1.0)
