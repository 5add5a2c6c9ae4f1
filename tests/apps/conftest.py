"""Fixtures shared by the server command tests."""

import pytest

from tests.perc.conference import Servers


@pytest.fixture
def files(tmp_path):
    """Certificates, keys and a conference policy file in a fresh directory."""
    servers = Servers()
    servers.write_files(tmp_path)
    return servers, tmp_path
