"""One model for the machine: a `ragapp serve` that loads the GGUF lends it to the other processes
of the same store (the app above all) through its model route, instead of each loading its own.

The serve process writes `api-model.json` in the store folder (readable by its owner only): the
route's URL, a token for it, the model file and its process id; and removes it when it stops. A
process that would load the same model finds the file, checks that the process still lives, and
asks through the route; the API's fair queue then orders its questions and the API's together.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

FILE = "api-model.json"


@dataclass(frozen=True)
class Lender:
    url: str  # the model route, ending in /model
    token: str  # sent as a Bearer token to the route
    model: str  # the GGUF file it serves
    pid: int


def lend(store_dir: Path, url: str, model: str) -> Lender:
    """Announce this process's model to the others of the store."""
    lender_ = Lender(url, secrets.token_urlsafe(32), model, os.getpid())
    path = Path(store_dir) / FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(asdict(lender_), out)
    os.replace(tmp, path)
    return lender_


def stop_lending(store_dir: Path, lender_: Lender) -> None:
    path = Path(store_dir) / FILE
    current = lender(store_dir, alive_only=False)
    if current is not None and current.token == lender_.token:
        path.unlink(missing_ok=True)


def lender(store_dir: Path, alive_only: bool = True) -> Lender | None:
    """The process lending its model to this store's others; None when there is none (or it is
    this process, or it has died without removing its file)."""
    try:
        data = json.loads((Path(store_dir) / FILE).read_text())
        found = Lender(str(data["url"]), str(data["token"]), str(data["model"]), int(data["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not alive_only:
        return found
    if found.pid == os.getpid() or not is_alive(found.pid):
        return None
    return found


def is_alive(pid: int) -> bool:
    """Whether a process of that id runs (a lender killed without a word leaves its file behind)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
