"""Nothing leaves the machine: ingest and ask work with networking switched off."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import SAMPLE

from integration.helpers import run_cli

pytestmark = pytest.mark.integration


def _unshare_permitted() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _unshare_permitted(), reason="unshare -n is not permitted here (needs root)")
def test_ingest_and_ask_without_a_network(tmp_path):
    offline = ["unshare", "-n", "--"]
    probe = subprocess.run(
        offline + ["python3", "-c", "import socket; s = socket.socket(); s.settimeout(3); print(s.connect_ex(('1.1.1.1', 443)))"],
        capture_output=True, text=True,
    )
    assert probe.stdout.strip() != "0", "the namespace still reaches the network"

    store = tmp_path / "store"
    ingested = run_cli(["ingest", str(SAMPLE)], store, prefix=offline)
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr
    assert "0 failed" in ingested.stdout

    asked = run_cli(["ragapp", "ask", "What is the daily meal allowance when travelling?", "--json"], store, prefix=offline)
    assert asked.returncode == 0, asked.stderr
    data = json.loads(asked.stdout)
    assert data["answer"] and data["citations"]
