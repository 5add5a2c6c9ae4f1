"""The example configurations in configs/ load as they are, with scripts/demo-certs' files."""

from __future__ import annotations

import shutil
import subprocess

from sipperc.apps.distributor import load_distributor_config
from sipperc.apps.focus import load_focus_config
from sipperc.apps.keyserver import load_key_server_config
from tests.interop.perc_processes import ROOT


def test_the_examples_load_with_the_demo_certificates(tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(ROOT / "configs", configs, ignore=shutil.ignore_patterns("certs", "*.json"))
    subprocess.run([str(ROOT / "scripts" / "demo-certs"), str(configs / "certs")], check=True,
                   capture_output=True, timeout=120)
    keyserver = load_key_server_config(configs / "keyserver.yaml")
    assert set(keyserver.policies) == {"design-review", "lobby"}
    assert keyserver.policies["lobby"].open
    assert keyserver.tunnel_tls.trust.names == ("md.sipperc.test",)
    distributor = load_distributor_config(configs / "distributor.yaml")
    rooms = {room.room: address.port for address, room in distributor.rooms}
    assert rooms == {"design-review": 40000, "lobby": 40002}
    assert (distributor.key_distributor.port, keyserver.tunnel.port) == (4740, 4740)
    focus = load_focus_config(configs / "focus.yaml")
    assert {name: room.media_distributor[1] for name, room in focus.settings.rooms.items()} \
        == rooms
    assert focus.key_distributor_port == keyserver.focus.port
    assert focus.settings.rooms["design-review"].pin == "0815"
