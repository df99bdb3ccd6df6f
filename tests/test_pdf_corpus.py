"""The shared corpus of real PDFs: every file gets the outcome that files.json says it should."""

import json

import pytest
from conftest import PDF_SAMPLES

from ragapp import ocr

# files.json cannot say which files are image-only (some with images have text, some without
# "images" are scans), so these are named; each was checked by hand. None shows a word (3.84-point
# icons, a cartoon, a photograph): OCR reads them and finds nothing.
IMAGE_ONLY = {
    "007-imagemagick-images/imagemagick-ASCII85Decode.pdf",
    "007-imagemagick-images/imagemagick-CCITTFaxDecode.pdf",
    "007-imagemagick-images/imagemagick-lzw.pdf",
    "019-grayscale-image/grayscale-image.pdf",
    "023-cmyk-image/cmyk-image.pdf",
}
# Its last megabyte is zeros where the page tree was: no reader gets files.json's 4 pages from it.
DAMAGED = {"017-unreadable-meta-data/unreadablemetadata.pdf"}
NOT_IN_CORPUS_COPY = {"009-pdflatex-geotopo/GeoTopo.pdf"}  # listed in files.json, not shipped here


@pytest.mark.skipif(not PDF_SAMPLES.is_dir(), reason="shared PDF corpus not present")
def test_every_pdf_of_the_corpus_gets_the_outcome_files_json_implies(fake_pipeline):
    listed = {e["path"]: e for e in json.loads((PDF_SAMPLES / "files.json").read_text())["data"]}
    on_disk = {p.relative_to(PDF_SAMPLES).as_posix() for p in PDF_SAMPLES.rglob("*.pdf")}
    assert on_disk - set(listed) == set()
    assert set(listed) - on_disk <= NOT_IN_CORPUS_COPY

    report = fake_pipeline.ingest([PDF_SAMPLES])
    outcomes = {o.source: o for o in report.outcomes}
    assert len(outcomes) == len(report.outcomes)  # one outcome per file
    assert set(outcomes) == on_disk | {"LICENSE", "files.json"}
    assert outcomes["LICENSE"].status == outcomes["files.json"].status == "skipped"
    records = {r.source: r for r in fake_pipeline.documents()}
    for path in sorted(on_disk):
        entry, outcome = listed[path], outcomes[path]
        if entry["encrypted"]:
            assert (outcome.status, outcome.reason) == ("failed", "password-protected PDF"), path
        elif path in IMAGE_ONLY:
            assert outcome.status == "failed", path
            assert outcome.reason == (ocr.unavailable_reason() or ocr.NO_WORDS), path
        elif path in DAMAGED:
            assert outcome.status == "failed" and outcome.reason.startswith("damaged PDF"), path
        else:
            assert (outcome.status, outcome.reason) == ("added", ""), path
            assert outcome.passages >= 1
            assert records[path].kind == "pdf" and records[path].pages == entry["pages"], path
        if outcome.status == "failed":
            assert path not in records
    assert report.passages == fake_pipeline.store().count()

    again = fake_pipeline.ingest([PDF_SAMPLES])
    assert {o.source: o.status for o in again.outcomes} == {
        source: "unchanged" if o.status == "added" else o.status for source, o in outcomes.items()
    }


@pytest.mark.skipif(not PDF_SAMPLES.is_dir(), reason="shared PDF corpus not present")
def test_a_folder_of_broken_pdfs_ends_with_every_file_accounted_for(tmp_path, fake_pipeline):
    from ragapp.bench import MUTATIONS, make_hostile_pdfs

    folder = make_hostile_pdfs(sorted(PDF_SAMPLES.rglob("*.pdf")), 3 * len(MUTATIONS), tmp_path / "broken")
    report = fake_pipeline.ingest([folder])
    outcomes = {o.source: o for o in report.outcomes}
    assert sorted(outcomes) == sorted(p.name for p in folder.iterdir())  # every file, once
    for source, outcome in outcomes.items():
        assert outcome.status in ("added", "failed"), source
        if outcome.status == "failed":
            # A reason a person understands, from the loader, never a parser's crash.
            assert outcome.reason.split(" (")[0] in {
                "damaged PDF", "empty file", "no extractable text", "password-protected PDF",
            }, (source, outcome.reason)
        if "-intact-" in source and "password" not in source:
            assert outcome.status == "added" or "no extractable text" in outcome.reason, source
        if "-empty-" in source or "-random-bytes-" in source:
            assert outcome.status == "failed", source
    stored = {r.source for r in fake_pipeline.documents()}
    assert stored == {s for s, o in outcomes.items() if o.status == "added"}
    assert report.passages == fake_pipeline.store().count()


def test_the_bench_reads_every_pdf_with_both_readers_and_counts_what_each_refused(tmp_path, monkeypatch):
    import os

    import pypdf
    from pdfgen import write_pdf
    from pypdf.errors import LimitReachedError

    from ragapp.bench import _bench_pdf_readers

    folder = tmp_path / "pdfs"
    (folder / "sub").mkdir(parents=True)
    write_pdf(folder / "guide.pdf", [["Staff parking costs forty euros a month."], ["Bikes park free in the yard."]])
    write_pdf(folder / "sub" / "tables.pdf", [["A report of many tables, too long for pypdf's limits."]])
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4\nnot a PDF after all")
    locked = pypdf.PdfWriter(clone_from=folder / "guide.pdf")
    locked.encrypt("secret", algorithm="RC4-128")
    locked.write(folder / "locked.pdf")
    (folder / "notes.md").write_text("# Notes\n\nNot a PDF: not read.")
    real_reader = pypdf.PdfReader

    def limited(path, *args, **kwargs):  # pypdf's safety limit on one file PDFium reads
        if str(path).endswith("tables.pdf"):
            raise LimitReachedError("Reached maximum array element count")
        return real_reader(path, *args, **kwargs)

    monkeypatch.setattr(pypdf, "PdfReader", limited)
    monkeypatch.setenv("RAGAPP_OCR", "1")
    said = []
    results = _bench_pdf_readers(folder, 2, said.append)
    assert os.environ["RAGAPP_OCR"] == "1"  # off for the readings only
    assert results["files"] == 4 and results["rounds"] == 2
    pdfium, bare = results["pdfium"], results["pypdf"]
    assert (pdfium["files"], pdfium["pages"]) == (2, 3) and (bare["files"], bare["pages"]) == (1, 2)
    assert pdfium["pages_per_s"] > 0 and bare["pages_per_s"] > 0 and pdfium["characters"] > bare["characters"] > 60
    assert pdfium["refused"] == 2 and pdfium["refused_files"]["locked.pdf"] == "password-protected PDF"
    assert pdfium["refused_files"]["broken.pdf"].startswith("PDFium: ")
    assert pdfium["refused_by"] == {"password-protected PDF": 1, pdfium["refused_files"]["broken.pdf"]: 1}
    assert bare["refused"] == 3 and set(bare["refused_files"]) == {"broken.pdf", "locked.pdf", "sub/tables.pdf"}
    assert bare["refused_by"]["LimitReachedError"] == 1 and bare["refused_by"]["password-protected PDF"] == 1
    assert bare["refused_files"]["sub/tables.pdf"] == "LimitReachedError: Reached maximum array element count"
    assert results["pages_per_s_ratio"] > 0
    assert results["both_read"]["files"] == 1 and results["both_read"]["speedup"] > 0
    assert len([line for line in said if line.startswith("  round")]) == 4
    assert any("1 LimitReachedError" in line for line in said), said
    (tmp_path / "none").mkdir()
    assert _bench_pdf_readers(tmp_path / "none", 1, said.append) is None
