"""``sipperc`` exactly as shipped, plus a deliberate leak on demand: the key search's control.

On SIGUSR1 it reads the file named by ``SIPPERC_TEST_LEAK_FILE`` and keeps its bytes in memory
and writes them, hex-encoded, to the log: what a Media Distributor that mishandled an
end-to-end key would look like. A search that finds nothing in the real Media Distributor is
only worth something if it finds this.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from twisted.logger import Logger

from sipperc.cli import main

LEAKED: list[bytearray] = []
_log = Logger(namespace="sipperc.distributor")


def _leak(signum: int, frame: object) -> None:
    data = Path(os.environ["SIPPERC_TEST_LEAK_FILE"]).read_bytes()
    for secret in data.split(b"\n"):
        if secret:
            LEAKED.append(bytearray(bytes.fromhex(secret.decode())))
            _log.info("deliberately leaked key {key}", key=secret.decode())


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _leak)
    sys.exit(main(sys.argv[1:]))
