"""The console scripts as a user runs them: real models, a real store, a fresh process each time."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from conftest import PDF_SAMPLES, SAMPLE

from integration.helpers import run_cli

pytestmark = pytest.mark.integration

LEAVE_QUESTION = "How many days of paid annual leave do full-time employees get?"


@pytest.fixture(scope="module")
def cli_store(tmp_path_factory):
    """A store filled once by `ingest data/sample`, with the seconds that first run took."""
    store = tmp_path_factory.mktemp("cli-store")
    started = time.perf_counter()
    result = run_cli(["ingest", str(SAMPLE)], store)
    return store, result, time.perf_counter() - started


def test_ingest_reports_every_file_added(cli_store):
    _, result, _ = cli_store
    assert result.returncode == 0, result.stderr
    files = sum(1 for p in SAMPLE.rglob("*") if p.is_file())
    assert f"{files} added, 0 updated, 0 unchanged, 0 failed, 0 skipped files" in result.stdout


def test_second_ingest_is_all_unchanged_and_fast(cli_store):
    store, first, first_seconds = cli_store
    started = time.perf_counter()
    second = run_cli(["ingest", str(SAMPLE)], store)
    seconds = time.perf_counter() - started
    assert second.returncode == 0
    files = sum(1 for p in SAMPLE.rglob("*") if p.is_file())
    assert f"0 added, 0 updated, {files} unchanged" in second.stdout
    assert "; 0 passages;" in second.stdout
    # Not a benchmark: a generous bound that only fails if the re-run re-embeds or loads the models.
    assert seconds < first_seconds * 0.5, (seconds, first_seconds)


def test_ingest_json_report(cli_store, tmp_path):
    store, _, _ = cli_store
    result = run_cli(["ingest", str(SAMPLE / "handbook"), "--json", "--collection", "handbook"], store)
    data = json.loads(result.stdout)
    assert data["collection"] == "handbook" and data["added"] == 4 and data["failed"] == 0
    assert {f["status"] for f in data["files"]} == {"added"}


def test_ask_prints_answer_then_sources(cli_store):
    store, _, _ = cli_store
    result = run_cli(["ragapp", "ask", LEAVE_QUESTION], store)
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("\nSources:\n")
    assert answer.strip()
    lines = [line for line in sources.splitlines() if line.strip()]
    assert len(lines) > 1 and all(line.startswith("[") for line in lines[:-1])
    assert any("handbook/leave-policy.md" in line for line in lines)
    # The last line says how the answer was produced.
    assert lines[-1].startswith(("Written by the model", "Quoted from the passages")), lines[-1]


def test_ask_off_topic_is_declined_with_related_passages(cli_store):
    store, _, _ = cli_store
    result = run_cli(["ragapp", "ask", "Who won the 2022 football World Cup?"], store)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("The documents don't contain this.")
    assert "Related passages" in result.stdout and "Declined" in result.stdout


def test_ask_json_parses(cli_store):
    store, _, _ = cli_store
    result = run_cli(["ragapp", "ask", "How much is the learning budget per year?", "--json"], store)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"answer", "lead", "query", "refused", "path", "withheld", "citations", "related", "timings"}
    assert data["answer"] and not data["refused"] and data["path"] in ("generated", "extractive")
    assert any(c["source"] == "benefits-guide.pdf" and c["page"] == 3 for c in data["citations"])
    assert data["timings"]["total_s"] > 0


@pytest.mark.skipif(not PDF_SAMPLES.exists(), reason="shared PDF corpus not present")
def test_password_protected_pdf_fails_alone_and_the_rest_is_stored(tmp_path):
    folder = tmp_path / "pdfs"
    shutil.copytree(PDF_SAMPLES, folder)
    store = tmp_path / "store"
    result = run_cli(["ingest", str(folder)], store)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        "005-libreoffice-writer-password/libreoffice-writer-password.pdf: failed: password-protected PDF"
        in result.stdout.splitlines()
    )
    listed = run_cli(["ragapp", "documents"], store).stdout
    assert "001-trivial/minimal-document.pdf" in listed
    assert "004-pdflatex-4-pages/pdflatex-4-pages.pdf" in listed
    assert "libreoffice-writer-password" not in listed
    # Non-PDF files of the folder are listed as skipped, not silently dropped.
    assert "LICENSE: skipped: unsupported file type" in result.stdout
    # Every file is listed with its outcome at the end.
    assert "001-trivial/minimal-document.pdf: stored, 2 passages (new)" in result.stdout.splitlines()


def test_usage_errors_exit_2(tmp_path):
    missing = run_cli(["ingest", str(tmp_path / "missing")], tmp_path / "store")
    assert missing.returncode == 2 and "no such file or folder" in missing.stderr
    bad_name = run_cli(["ingest", str(SAMPLE), "--collection", "a/b"], tmp_path / "store")
    assert bad_name.returncode == 2 and "invalid collection name" in bad_name.stderr
    no_args = run_cli(["ingest"], tmp_path / "store")
    assert no_args.returncode == 2


def test_ask_filter_searches_only_the_chosen_documents(cli_store):
    store, _, _ = cli_store
    question = "How many days of paid annual leave does an employee get?"
    result = run_cli(["ragapp", "ask", question, "--filter", "type=pdf", "--json"], store)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    seen = {c["source"] for c in data["citations"]} | {r["source"] for r in data["related"]}
    assert seen == {"benefits-guide.pdf"}  # the leave policy (Markdown) is not searched
    unfiltered = json.loads(run_cli(["ragapp", "ask", question, "--json"], store).stdout)
    assert any(c["source"] == "handbook/leave-policy.md" for c in unfiltered["citations"])
    bad = run_cli(["ragapp", "ask", question, "--filter", "colour=red"], store)
    assert bad.returncode == 2 and "cannot read the filter 'colour=red'" in bad.stderr
