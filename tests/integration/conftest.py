"""Integration fixtures: the real bundled models, a real Chroma store in a temporary folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from conftest import SAMPLE
from pdfgen import write_pdf

from integration.helpers import GENERATED_PDF_PAGES, CountingEmbedder
from ragapp import factory
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings

@pytest.fixture(scope="session")
def real_embedder():
    return factory.make_embedder(Settings())


@pytest.fixture(scope="session")
def real_generator():
    return factory.make_generator(Settings())


@pytest.fixture(scope="session")
def docs_dir(tmp_path_factory) -> Path:
    """The sample documents plus a PDF generated here."""
    folder = tmp_path_factory.mktemp("docs") / "kb"
    shutil.copytree(SAMPLE, folder)
    write_pdf(folder / "lighthouse-briefing.pdf", GENERATED_PDF_PAGES, title="Project Lighthouse briefing")
    return folder


@pytest.fixture(scope="session")
def ingested(tmp_path_factory, docs_dir, real_embedder, real_generator):
    """A pipeline over a real store that already holds docs_dir, and the first ingest report."""
    settings = Settings(store_dir=tmp_path_factory.mktemp("store"))
    pipeline = Pipeline(settings, embedder=CountingEmbedder(real_embedder), generator=real_generator)
    report = pipeline.ingest([docs_dir])
    return pipeline, report
