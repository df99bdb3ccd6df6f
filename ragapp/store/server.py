"""The local Chroma server of one store folder: `python -m ragapp.store.server STORE_DIR`.

Started on demand by the first process that needs the store (ragapp/store/chroma.py); runs
`chroma run` on 127.0.0.1 and a free port, writes where it listens to chroma-server.json, and stops
it once no process has used the store for --idle-s seconds. Which processes use it is told by the
kernel: each holds a shared lock on chroma.users while it lives, so a killed one counts no more.
Only one process ever has the Chroma folder open: this one holds chroma.owner while its server runs.
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ragapp.store.chroma import OWNER_FILE, SERVER_FILE, SERVER_LOG, USERS_FILE, chroma_version

POLL_S = 1.0
OWNER_WAIT_S = 30.0  # a server that is shutting down may still hold the folder for a moment
READY_WAIT_S = 30.0
PORT_TRIES = 2

# `chroma run` as a command of this Python: the console script may not be on PATH.
CHROMA_RUN = "import sys; from chromadb.cli.cli import app; sys.argv = ['chroma', *sys.argv[1:]]; app()"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    # The chroma process ends when this supervisor does, even on kill -9: never an orphan that holds
    # the folder. (prctl PR_SET_PDEATHSIG = 1)
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragapp.store.server")
    parser.add_argument("store_dir", type=Path)
    parser.add_argument("--idle-s", type=float, default=300.0)
    args = parser.parse_args(argv)
    store_dir = args.store_dir.resolve()
    store_dir.mkdir(parents=True, exist_ok=True)
    log = open(store_dir / SERVER_LOG, "a", buffering=1)

    def say(text: str) -> None:
        log.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ragapp: {text}\n")

    owner = open(store_dir / OWNER_FILE, "a+")
    deadline = time.monotonic() + OWNER_WAIT_S
    while True:
        try:
            fcntl.flock(owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                say(f"the store {store_dir} is open in another process (RAGAPP_CHROMA=embedded?): not starting")
                return 3
            time.sleep(0.2)
    log.truncate(0)  # this server's log only, now that it is the one

    child = None
    for _ in range(PORT_TRIES):
        port = free_port()
        child = subprocess.Popen(
            [sys.executable, "-c", CHROMA_RUN, "run", "--path", str(store_dir), "--host", "127.0.0.1", "--port", str(port)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
            # The server holds the owner lock too, so the folder stays locked until it has exited.
            pass_fds=(owner.fileno(),),
            env={**os.environ, "ANONYMIZED_TELEMETRY": "False"},
        )
        if _wait_ready(child, port):
            break
        child.terminate()
        child.wait()
        child = None
    if child is None:
        say("chroma run did not start")
        return 4

    def stop(*_):
        (store_dir / SERVER_FILE).unlink(missing_ok=True)
        child.terminate()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
        say("stopped")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    info = {"pid": os.getpid(), "port": port, "version": chroma_version(), "started": time.time()}
    partial = store_dir / (SERVER_FILE + ".part")
    partial.write_text(json.dumps(info))
    partial.replace(store_dir / SERVER_FILE)
    say(f"serving {store_dir} on 127.0.0.1:{port}")

    users = open(store_dir / USERS_FILE, "a+")
    idle_since = None
    while child.poll() is None:
        time.sleep(POLL_S)
        try:
            fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            idle_since = None  # some process uses the store
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= args.idle_s:
            # Still holding the lock: a process arriving now waits, then finds no server and starts one.
            say(f"no process has used the store for {args.idle_s:g} s")
            stop()
        fcntl.flock(users, fcntl.LOCK_UN)
    (store_dir / SERVER_FILE).unlink(missing_ok=True)
    say(f"chroma run ended with exit code {child.returncode}")
    return 5


def _wait_ready(child: subprocess.Popen, port: int) -> bool:
    import httpx

    deadline = time.monotonic() + READY_WAIT_S
    while time.monotonic() < deadline and child.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    return False


if __name__ == "__main__":
    sys.exit(main())
