"""The model's thread count follows how busy other processes keep the machine."""

import os
import subprocess
import sys
import time

from ragapp.cpu import Snapshot, model_threads, others_busy_cores


def test_an_idle_machine_gives_the_model_every_core():
    since = Snapshot.now()
    time.sleep(0.3)
    # Other processes of the test run may wake now and then: "idle" is less than half a core.
    if others_busy_cores(since) < 0.5:
        assert model_threads(0, since) == os.cpu_count()
    assert model_threads(1, since) == 1


def test_a_core_kept_busy_by_another_process_is_left_to_it():
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nend = time.time() + 1.5\nwhile time.time() < end: pass"])
    try:
        time.sleep(0.3)
        since = Snapshot.now()
        time.sleep(0.8)
        busy = others_busy_cores(since)
        assert busy >= 0.8, busy
        assert model_threads(0, since) == max(1, os.cpu_count() - round(busy))
        assert model_threads(0, since) < os.cpu_count() or os.cpu_count() == 1
    finally:
        spinner.kill()
        spinner.wait()
