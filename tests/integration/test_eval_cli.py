"""`ragapp eval` end to end on the sample handbook, with the real models (kept small for CI)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT, SAMPLE

from integration.helpers import run_cli

pytestmark = pytest.mark.integration

QA = ROOT / "tests" / "data" / "handbook-qa.jsonl"


def test_eval_reports_every_key_on_the_handbook(tmp_path):
    out = tmp_path / "eval.json"
    result = run_cli(["ragapp", "eval", "--qa", str(QA), "--docs", str(SAMPLE), "--limit", "6", "--json", str(out)], tmp_path / "store")
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    expected = {
        "questions", "recall_at_1", "recall_at_5", "mrr_at_10", "answer_containment", "citation_precision",
        "refusal_rate_unanswerable", "false_refusal_rate", "unsupported_sentence_rate", "latency_p50_s",
        "latency_p95_s", "mean_passage_tokens", "model",
    }
    assert expected <= set(data)
    assert data["questions"] == 6 and data["model"].endswith(".gguf")
    # The handbook's questions name their document plainly: retrieval finds every one in the top 5.
    assert data["recall_at_5"] == 1.0
    assert "recall_at_5" in result.stdout and "citation_precision" in result.stdout


def test_eval_retrieval_only_is_fast_and_skips_generation(tmp_path):
    result = run_cli(["ragapp", "eval", "--qa", str(QA), "--docs", str(SAMPLE), "--retrieval-only"], tmp_path / "store")
    assert result.returncode == 0, result.stderr
    assert "recall_at_5" in result.stdout and "answer_containment" not in result.stdout
