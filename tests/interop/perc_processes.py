"""Where the checkout is, and whether a process still runs, for tests that start processes.

Starting servers as processes and searching their memory and logs for keys live in the package
(:mod:`sipperc.apps.server_process`, :mod:`sipperc.apps.leak_search`): ``sipperc demo`` does
the same.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def exited(pid: int) -> bool:
    """Whether process ``pid`` no longer runs (gone, or a zombie waiting to be reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ")[1].startswith("Z")
