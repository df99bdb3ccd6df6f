import pytest
from conftest import PDF_SAMPLES, SAMPLE
from fakes import HashEmbedder
from pdfgen import write_pdf

from ragapp.loaders import load
from ragapp.splitter import split


def test_passages_point_at_their_exact_text():
    doc = load(SAMPLE / "handbook" / "expenses.md", SAMPLE)
    counter = HashEmbedder().count_tokens
    passages = split(doc, counter, chunk_size=40, chunk_overlap=8)
    assert len(passages) > 3
    text = doc.pages[0].text
    for p in passages:
        assert text[p.start : p.end] == p.text
        assert counter(p.text) <= 40
        assert p.source == "handbook/expenses.md" and p.page is None
    assert [p.index for p in passages] == list(range(len(passages)))
    assert passages[0].start < passages[-1].start


def test_pdf_passages_keep_their_page(tmp_path):
    pdf = write_pdf(tmp_path / "p.pdf", [["First page words."] * 3, ["Second page words."] * 3])
    passages = split(load(pdf, tmp_path), HashEmbedder().count_tokens, 200, 0)
    assert {p.page for p in passages} == {1, 2}


def test_ids_are_deterministic_and_unique():
    doc = load(SAMPLE / "handbook" / "leave-policy.md", SAMPLE)
    first = split(doc, HashEmbedder().count_tokens, 50, 10)
    again = split(doc, HashEmbedder().count_tokens, 50, 10)
    assert [p.id for p in first] == [p.id for p in again]
    assert len({p.id for p in first}) == len(first)


def test_markdown_passages_stay_under_one_heading_and_remember_its_path():
    doc = load(SAMPLE / "handbook" / "leave-policy.md", SAMPLE)
    passages = split(doc, HashEmbedder().count_tokens, chunk_size=200, chunk_overlap=10)
    text = doc.pages[0].text
    by_heading = {}
    for p in passages:
        assert text[p.start : p.end] == p.text
        by_heading.setdefault(p.heading, []).append(p)
    assert set(by_heading) == {
        "Leave policy", "Leave policy › Annual leave", "Leave policy › Sick leave",
        "Leave policy › Parental leave", "Leave policy › Other leave",
    }
    [parental] = by_heading["Leave policy › Parental leave"]
    assert parental.text.startswith("## Parental leave") and "20 weeks" in parental.text
    assert "## Other leave" not in parental.text  # a passage never runs into the next section
    assert parental.location() == "handbook/leave-policy.md · Leave policy › Parental leave"


def test_headings_in_code_and_headings_without_text_of_their_own():
    from ragapp.splitter import markdown_sections

    text = "# Guide\n## Setup\n### Linux\n\nRun it.\n\n```\n# a comment, not a heading\n```\n## Use\n\nAsk.\n"
    sections = [(text[a:b], path) for a, b, path in markdown_sections(text)]
    assert sections == [
        ("# Guide\n## Setup\n### Linux\n\nRun it.\n\n```\n# a comment, not a heading\n```\n", "Guide › Setup › Linux"),
        ("## Use\n\nAsk.\n", "Guide › Use"),
    ]


@pytest.mark.skipif(not PDF_SAMPLES.exists(), reason="shared PDF corpus not present")
def test_pdf_passages_follow_the_outline_and_never_cross_a_section():
    doc = load(PDF_SAMPLES / "006-pdflatex-outline" / "pdflatex-outline.pdf")
    passages = split(doc, HashEmbedder().count_tokens, chunk_size=200, chunk_overlap=20)
    bar = [p for p in passages if p.page == 2 and p.heading == "Bar"]
    assert bar and bar[0].text.startswith("2 Bar") and all("3 Baz" not in p.text for p in bar)
    assert bar[0].location() == "pdflatex-outline.pdf, page 2 · Bar"
    # The section in force at the end of page 2 ("4 Foo") carries on at the top of page 3.
    top_of_3 = min((p for p in passages if p.page == 3), key=lambda p: p.start)
    assert top_of_3.heading == "Foo" and not top_of_3.text.startswith("5 Bar")
    assert {p.heading for p in passages if p.page == 1} == {""}  # the contents page precedes every section



def _bundled_tokenizer():
    from tokenizers import Tokenizer

    from ragapp.models import resolve_embed_model

    tokenizer = Tokenizer.from_file(str(resolve_embed_model("") / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def test_tokens_counted_word_by_word_are_the_tokenizers_count_of_the_whole_text():
    import random

    from conftest import SHARED

    from ragapp.embedder import SentenceTransformerEmbedder
    from ragapp.models import resolve_embed_model

    # Counting reads tokenizer.json alone: the model's weights are never loaded here.
    counter = SentenceTransformerEmbedder(resolve_embed_model("")).count_tokens
    tokenizer = _bundled_tokenizer()

    def exact(text):
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    odd = "ab\x0ccd e\x85f g\u200bh \u00e4 \u00fc \u5317\u4eac test_case $5 \u2014x na\u00efve \x00z \ufb01ne\x1fend\xa0nbsp \x0b"
    assert counter(odd) == exact(odd)
    # Control characters that Python splits words at and the tokenizer deletes: "a\x0cb" is "ab".
    for joined in ("a\x0cb", "a\x0bb", "a\x85b", "a\x1fb"):
        assert counter(joined) == exact(joined) == 1
    files = sorted(p for p in SAMPLE.rglob("*") if p.is_file())
    files += sorted((SHARED / "bench" / "squad2-dev" / "docs").glob("*.md"))[:6]
    files += sorted(PDF_SAMPLES.rglob("*.pdf"))[:12]
    rng, spans, cut = random.Random(0), 0, 0
    for path in files:
        try:
            doc = load(path, path.parent)
        except Exception:  # a sample that cannot be read has nothing to count
            continue
        for page in doc.pages:
            assert counter(page.text) == exact(page.text), path
            for _ in range(20):  # pieces starting and ending anywhere, mid-word included
                start = rng.randrange(max(1, len(page.text)))
                piece = page.text[start : start + rng.randrange(1, 2000)]
                assert counter(piece) == exact(piece), (path, piece)
                spans += 1
        by_words = split(doc, counter, 200, 20)
        assert [(p.id, p.text) for p in by_words] == [(p.id, p.text) for p in split(doc, exact, 200, 20)], path
        cut += len(by_words)
    assert spans > 500 and cut > 300


def test_a_tokenizer_that_is_not_bert_s_is_counted_whole(tmp_path):
    import json

    from ragapp.embedder import SentenceTransformerEmbedder, WordTokenCounter
    from ragapp.models import resolve_embed_model

    tokenizer = json.loads((resolve_embed_model("") / "tokenizer.json").read_text(encoding="utf-8"))
    assert WordTokenCounter.fits(tokenizer)
    # A tokenizer that folds the space into the next word's first token counts no word alone.
    tokenizer["pre_tokenizer"] = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}
    (tmp_path / "tokenizer.json").write_text(json.dumps(tokenizer), encoding="utf-8")
    assert not WordTokenCounter.fits(tokenizer)
    embedder = SentenceTransformerEmbedder(tmp_path)
    from tokenizers import Tokenizer

    own = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    own.no_padding()
    assert embedder.count_tokens("Two words here") == len(own.encode("Two words here", add_special_tokens=False).ids)
    assert not isinstance(embedder._counter, WordTokenCounter)
