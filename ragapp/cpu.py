"""How busy the machine is with other processes' work: the model's thread count follows it.

llama.cpp's threads wait for each other at every step by spinning. When another process (an
ingest, a second app, an eval) keeps a core busy, a spinning thread whose partner has been
descheduled burns its time slice for nothing: on 2 cores, 48 tokens took over 120 s instead of
about 1 s. With fewer threads than busy cores there is no partner to wait for. On an idle
machine every core is used, at full speed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class Snapshot:
    """CPU time used by the whole machine and by this process, at one moment."""

    wall: float
    machine_busy: float  # seconds of CPU time, all cores, since boot
    own: float  # seconds of CPU time of this process

    @classmethod
    def now(cls) -> "Snapshot | None":
        try:
            with open("/proc/stat") as f:
                fields = f.readline().split()[1:]
        except OSError:
            return None  # not Linux: nothing is known of other processes
        values = [int(v) for v in fields]
        idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
        busy = (sum(values[:8]) - idle) / _TICKS
        times = os.times()
        return cls(time.monotonic(), busy, times.user + times.system)


def others_busy_cores(since: Snapshot | None) -> float:
    """How many cores other processes kept busy, on average, since the snapshot."""
    now = Snapshot.now()
    if since is None or now is None or now.wall - since.wall < 0.02:
        return 0.0
    others = (now.machine_busy - since.machine_busy) - (now.own - since.own)
    return max(0.0, others / (now.wall - since.wall))


def model_threads(configured: int, since: Snapshot | None) -> int:
    """Threads for the model's next step: the configured count (0: every core), less the cores
    other processes have been keeping busy, at least one."""
    cores = os.cpu_count() or 1
    threads = configured or cores
    busy = others_busy_cores(since)
    if busy >= 0.5:
        threads = min(threads, max(1, cores - round(busy)))
    return threads


_last: Snapshot | None = None


def since_last_call() -> Snapshot | None:
    """The snapshot taken at the previous call (None at the first), for a measure of how busy the
    machine has been since; this call's becomes the next one's."""
    global _last
    previous, _last = _last, Snapshot.now()
    return previous


# CPU features that give bf16 matrix products in hardware (x86: AVX-512 BF16 instructions, AMX tiles).
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them; empty where they cannot be read."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()
