"""The servers as twist plugins: found by Twisted, configured like the sipperc commands."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from twisted.application.service import IServiceMaker
from twisted.plugin import getPlugins
from twisted.python import usage

from sipperc.apps import twist_plugins
from sipperc.apps.focus import FocusServer
from sipperc.apps.keyserver import KeyServer
from sipperc.apps.server_process import free_port
from tests.interop.perc_processes import ROOT
from tests.interop.sip_conference import focus_yaml
from tests.perc.conference import Servers


def test_twisted_finds_the_servers():
    names = {plugin.tapname for plugin in getPlugins(IServiceMaker)}
    assert {"perc-keyserver", "perc-distributor", "perc-focus"} <= names


def test_options_and_configuration_errors_are_usage_errors(tmp_path):
    options = twist_plugins.ConfigOptions()
    with pytest.raises(usage.UsageError, match="--config"):
        options.parseOptions([])
    options.parseOptions(["--config", str(tmp_path / "missing.yaml")])
    with pytest.raises(usage.UsageError, match=r"missing\.yaml: cannot read"):
        twist_plugins.keyserver.makeService(options)


def test_make_service_builds_the_server(tmp_path):
    servers = Servers()
    servers.write_files(tmp_path)
    options = twist_plugins.ConfigOptions()
    options.parseOptions(["--config", str(servers.keyserver_yaml(tmp_path, 0, 0))])
    service = twist_plugins.keyserver.makeService(options)
    assert isinstance(service.server, KeyServer)
    options = twist_plugins.ConfigOptions()
    options.parseOptions(["--config", str(focus_yaml(servers, tmp_path, sip_port=0,
                                                     focus_port=4741, media_port=40000))])
    service = twist_plugins.focus.makeService(options)
    assert isinstance(service.server, FocusServer)


def test_twist_runs_the_key_distributor_until_sigterm(tmp_path):
    servers = Servers()
    servers.write_files(tmp_path)
    config = servers.keyserver_yaml(tmp_path, free_port(), free_port())
    twist = Path(sys.executable).with_name("twist")
    log = tmp_path / "twist.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(twist), "--log-format", "text", "perc-keyserver",
                                    "--config", str(config)], cwd=ROOT, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 30
        while b"listening for focus connections" not in log.read_bytes():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        # twist stops the reactor cleanly, then exits by the signal it got (Twisted's way of
        # reporting why it ended).
        assert process.wait(15) == -signal.SIGTERM
        assert "Main loop terminated" in log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
