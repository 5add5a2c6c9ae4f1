"""Servers as child processes: readiness from the log, stopping, and no orphans."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from sipperc.apps.server_process import JsonLogFollower, ServerExitedError, ServerProcess, free_port
from tests.interop.perc_processes import ROOT, exited

SERVER = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print('{"message": "listening", "port": 1}', flush=True)
    while True:
        time.sleep(0.05)
""")


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_free_ports_are_bindable():
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        port = free_port(kind)
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))


def test_ready_from_the_log_then_a_clean_stop_and_a_restart(tmp_path):
    server = ServerProcess("toy", ["-c", SERVER], tmp_path / "toy.log", env={"X": "1"})
    server.start()
    wait_until(lambda: server.ready('"listening"'))
    assert server.running and server.pid > 0
    assert server.stop() == 0 and not server.running
    server.start()  # the second run appends to the log; readiness looks at this run only
    assert not server.ready("never said")
    wait_until(lambda: server.ready('"listening"'))
    server.kill()
    assert server.process.returncode == -signal.SIGKILL
    assert server.log.read_text().count("listening") == 2


def test_a_server_that_exits_says_why(tmp_path):
    server = ServerProcess("broken", ["-c", "import sys; print('no config'); sys.exit(78)"],
                           tmp_path / "broken.log")
    with pytest.raises(ServerExitedError, match="never started"):
        _ = server.pid
    assert server.stop() is None
    server.start()
    server.process.wait(10)
    with pytest.raises(ServerExitedError, match=r"broken exited with status 78:\nno config"):
        server.ready("listening")


def test_servers_die_with_the_process_that_started_them(tmp_path):
    parent_code = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from sipperc.apps.server_process import ServerProcess
        server = ServerProcess("child", ["-c", {SERVER!r}], Path({str(tmp_path)!r}) / "c.log")
        server.start()
        print(server.pid, flush=True)
        time.sleep(60)
    """)
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert not exited(child)
        parent.kill()  # no cleanup code runs: only the kernel can stop the child now
        parent.wait(10)
        wait_until(lambda: exited(child))
    finally:
        if parent.poll() is None:
            parent.kill()


def test_the_log_follower_reads_complete_lines_as_they_come(tmp_path):
    log = tmp_path / "server.log"
    follower = JsonLogFollower(log)
    assert list(follower.new_events()) == []
    log.write_text('{"message": "one", "n": 1}\nTraceback (most recent call last)\n{"mess')
    assert list(follower.new_events()) == [{"message": "one", "n": 1},
                                           {"message": "Traceback (most recent call last)"}]
    with log.open("a") as more:
        more.write('age": "two"}\n[1, 2]\n')
    assert list(follower.new_events()) == [{"message": "two"}, {"message": "[1, 2]"}]
    assert list(follower.new_events()) == []
