"""What the servers share: listening addresses, readiness, and running as a process."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure

from sipperc.apps.serving import Readiness, SocketAddress, load_socket_address
from sipperc.cli import ExitCode
from sipperc.config import ConfigError, parse_config
from tests.interop.perc_processes import ROOT
from tests.perc.conference import Servers


def test_addresses_for_listening_and_connecting():
    node = parse_config("a: {host: 0.0.0.0, port: 0}\nb: {host: kd.example.net, port: 4740}\n"
                        "c: {port: 1}\n")
    assert load_socket_address(node.require("a"), listening=True) == SocketAddress("0.0.0.0", 0)
    assert load_socket_address(node.require("b"), listening=False) == SocketAddress(
        "kd.example.net", 4740)
    assert load_socket_address(node.require("c"), listening=True) == SocketAddress("", 1)
    assert str(SocketAddress("::1", 5)) == "[::1]:5"
    with pytest.raises(ConfigError, match=r"c\.host: required setting is missing"):
        load_socket_address(node.require("c"), listening=False)
    with pytest.raises(ConfigError, match="not an IP address"):
        load_socket_address(node.require("b"), listening=True)


def test_readiness_tells_every_waiter():
    ready = Readiness()
    early = ready.wait()
    ready.watch(succeed(None))
    results = []
    for waiter in (early, ready.wait()):
        waiter.addCallback(results.append)
    assert results == [None, None]
    broken = Readiness()
    broken.watch(fail(OSError("nope")))
    errors = []
    broken.wait().addErrback(errors.append)
    assert isinstance(errors[0], Failure) and "nope" in str(errors[0].value)
    pending = Readiness()
    assert isinstance(pending.wait(), Deferred) and not pending.wait().called


def test_a_busy_port_exits_unavailable(tmp_path):
    servers = Servers()
    servers.write_files(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = servers.keyserver_yaml(tmp_path, port, 0)
        done = subprocess.run([sys.executable, "-m", "sipperc", "keyserver", "--config",
                               str(config)], cwd=ROOT, capture_output=True, text=True,
                              timeout=60, check=False)
    assert done.returncode == ExitCode.UNAVAILABLE
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_settle_garbage_collector_freezes_startup_objects_and_collects_young_less_often():
    import gc  # noqa: PLC0415

    from sipperc.apps.serving import GC_YOUNG_THRESHOLD, settle_garbage_collector  # noqa: PLC0415

    threshold = gc.get_threshold()
    try:
        settle_garbage_collector()
        assert gc.get_freeze_count() > 1000  # modules, classes... out of every collection
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
