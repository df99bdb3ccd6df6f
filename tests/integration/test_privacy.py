"""Nothing leaves the machine: ingest and ask work with networking switched off."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from conftest import SAMPLE

from integration.helpers import BIN, run_cli

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

    # One namespace for both commands, with its loopback up: the store's local Chroma server, which
    # the ingest starts and the question uses, listens on 127.0.0.1 (reachable inside the namespace
    # only). Nothing else is reachable from there.
    store = tmp_path / "store"
    script = (
        'ip link set lo up && "$1" "$2" && "$3" ask "What is the daily meal allowance when travelling?" --json'
    )
    done = run_cli(
        ["sh", "-c", script, "sh", str(BIN / "ingest"), str(SAMPLE), str(BIN / "ragapp")], store, prefix=offline,
        bin_dir=None,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout
    data = json.loads(done.stdout[done.stdout.index("{"):])
    assert data["answer"] and data["citations"]
