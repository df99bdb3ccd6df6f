"""Scans and images are read by OCR (Tesseract): stored with the words they show, their cited page
highlighted; a machine without Tesseract, or with OCR switched off, says so in the outcome."""

import dataclasses
import random
import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE

from ragapp import ocr
from ragapp.pages import render_pdf_page
from ragapp.pipeline import Pipeline

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract is not installed (`make tesseract` installs it)"
)

CLAIM = "All employees are covered by private health insurance with Meridian Health from their first day."


def _scan(path: Path, dpi: int = 200) -> None:
    """Page 1 of the benefits guide as a scanner gives it: an image at `dpi`, a little noise, turned
    a degree; saved as PNG or as an image-only PDF, by the name's suffix."""
    import pypdfium2 as pdfium
    from PIL import Image

    doc = pdfium.PdfDocument(str(SAMPLE / "benefits-guide.pdf"))
    image = doc[0].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
    doc.close()
    rng = random.Random(7)
    pixels = image.load()
    for _ in range(image.width * image.height // 200):  # salt and pepper on 0.5% of the pixels
        pixels[rng.randrange(image.width), rng.randrange(image.height)] = rng.choice((0, 255))
    image = image.rotate(1, resample=Image.BICUBIC, fillcolor=255)
    image.save(path, resolution=dpi)


@pytest.mark.parametrize("name", ["scan.pdf", "scan.png"])
def test_a_scanned_page_is_stored_through_ocr_and_found_by_its_words(tmp_path, fake_pipeline, name):
    folder = tmp_path / "scans"
    folder.mkdir()
    _scan(folder / name)
    report = fake_pipeline.ingest([folder])
    (outcome,) = report.outcomes
    assert outcome.status == "added", outcome.describe()
    assert outcome.describe().startswith("stored, ") and "(new; OCR, 1 page)" in outcome.describe()
    answer = fake_pipeline.ask("Which company provides the private health insurance?")
    cited = [h.passage for h in answer.hits if h.passage.source == name]
    assert cited, answer.hits
    text = " ".join(" ".join(p.text.split()) for p in cited)
    assert "Meridian Health" in text and "private health insurance" in text
    if name.endswith(".pdf"):
        passage = next(p for p in cited if "Meridian" in p.text)
        assert passage.page == 1
        shown = render_pdf_page(folder / name, 1, passage.text)
        assert shown.highlighted and shown.boxes


def test_a_text_pdf_keeps_its_own_text_and_wording(tmp_path, fake_pipeline):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(SAMPLE / "benefits-guide.pdf", folder)
    (outcome,) = fake_pipeline.ingest([folder]).outcomes
    assert outcome.describe() == f"stored, {outcome.passages} passages (new)"  # no OCR note: no page was a scan


def test_a_machine_without_tesseract_says_so(tmp_path, settings, monkeypatch):
    from fakes import HashEmbedder, ScriptedGenerator

    folder = tmp_path / "scans"
    folder.mkdir()
    _scan(folder / "scan.pdf")
    _scan(folder / "scan.png")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))  # the workers inherit PATH: no tesseract on it
    report = Pipeline(settings, embedder=HashEmbedder(), generator=ScriptedGenerator()).ingest([folder])
    assert [o.describe() for o in report.outcomes] == [f"failed: {ocr.NOT_INSTALLED}"] * 2
    assert "apt-get install tesseract-ocr" in ocr.NOT_INSTALLED


def test_ocr_switched_off_says_so(tmp_path, settings):
    from fakes import HashEmbedder, ScriptedGenerator

    folder = tmp_path / "scans"
    folder.mkdir()
    _scan(folder / "scan.pdf")
    off = dataclasses.replace(settings, ocr=False)
    report = Pipeline(off, embedder=HashEmbedder(), generator=ScriptedGenerator()).ingest([folder])
    assert [o.describe() for o in report.outcomes] == [
        "failed: no extractable text (probably a scan: OCR is switched off, RAGAPP_OCR)"
    ]
