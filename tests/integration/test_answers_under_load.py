"""Two processes answering at once on one 2-core machine: neither may stall the other."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLE

from integration.helpers import cli_env, run_cli

pytestmark = pytest.mark.integration

QUESTIONS = [
    "What is the daily meal allowance when travelling?",
    "How long is parental leave for birth parents?",
    "How quickly must an on-call engineer acknowledge a page?",
    "What is the stipend for a week on call as primary?",
    "How long must passwords be?",
    "When are salaries reviewed?",
]
# Each process loads both models, then answers every question with the model's sentence, and
# prints the slowest answer's seconds.
ASKER = """
import json, sys
from ragapp.pipeline import Pipeline
from ragapp.settings import Settings
pipeline = Pipeline(Settings.load())
pipeline.warm_up()
print("ready", flush=True)
sys.stdin.readline()  # both start asking together
times = [pipeline.ask(q).timings.total_s for q in json.loads(sys.argv[1])]
print(json.dumps(times), flush=True)
"""
# An answer takes 1 to 3 s here, and under 5 s beside a second asker; threads spinning against each
# other took minutes. The model's own time limit (RAGAPP_MODEL_SENTENCE_S) is 4 s.
STALLED_S = 20


def test_two_processes_asking_at_once_both_answer_without_stalling(tmp_path):
    store = tmp_path / "store"
    assert run_cli(["ingest", str(SAMPLE)], store).returncode == 0
    askers = [
        subprocess.Popen(
            [sys.executable, "-c", ASKER, json.dumps(QUESTIONS)], cwd=ROOT, env=cli_env(store),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]
    try:
        for asker in askers:
            assert asker.stdout.readline().strip() == "ready", asker.stderr.read()
        for asker in askers:
            asker.stdin.write("\n")
            asker.stdin.flush()
        results = []
        for asker in askers:
            out, err = asker.communicate(timeout=300)
            assert asker.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for asker in askers:
            asker.kill()
    for times in results:
        assert len(times) == len(QUESTIONS)
        assert max(times) < STALLED_S, times
