"""The sipperc servers as ``twist`` plugins: perc-keyserver, perc-distributor, perc-focus.

Twisted finds plugins in ``twisted/plugins/``; the drop-in ``twisted/plugins/sipperc_plugins.py``
of the source tree only imports :data:`keyserver` and :data:`distributor` from here
(``scripts/setup`` links it into the virtual environment's Twisted). Each takes the same
``--config`` file as the ``sipperc`` sub-command::

    twist perc-keyserver --config configs/keyserver.yaml
    twist perc-distributor --config configs/distributor.yaml
    twist perc-focus --config configs/focus.yaml

``twist`` brings its own logging options (``--log-format``, ``--log-level``, ``--log-file``)
and signal handling. A configuration error is reported as a usage error before anything
starts; a port that cannot be bound is logged and stops the process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.application.service import IService, IServiceMaker, Service
from twisted.plugin import IPlugin
from twisted.python import usage
from twisted.python.failure import Failure
from zope.interface import implementer

from sipperc.apps.serving import ReadyService
from sipperc.config import ConfigError


class ConfigOptions(usage.Options):
    """``--config FILE``: the server's YAML configuration."""

    optParameters = [["config", "c", None,  # noqa: RUF012 - Twisted's declaration style
                      "the server's configuration file (YAML)"]]

    def postOptions(self) -> None:
        """The configuration file is required."""
        if not self["config"]:
            raise usage.UsageError("--config FILE is required")


class _StopOnFailure(Service):
    """Starts the server and stops the reactor if it cannot serve (a port in use)."""

    def __init__(self, server: ReadyService, name: str) -> None:
        self.server = server
        self.server_name = name

    def startService(self) -> None:
        """Start the server; a failure to become ready ends the process."""
        super().startService()  # type: ignore[no-untyped-call]
        self.server.startService()
        self.server.when_ready().addErrback(self._failed)

    def stopService(self) -> Any:
        """Stop the server."""
        super().stopService()  # type: ignore[no-untyped-call]
        return self.server.stopService() if self.server.running else None

    def _failed(self, failure: Failure) -> None:
        from twisted.internet import reactor  # noqa: PLC0415
        from twisted.logger import Logger  # noqa: PLC0415

        Logger(namespace="sipperc.apps").error("{name} cannot start: {error}",
                                               name=self.server_name, error=str(failure.value))
        reactor.stop()


@implementer(IServiceMaker, IPlugin)
class ServerMaker:
    """An IServiceMaker for one sipperc server."""

    options = ConfigOptions

    def __init__(self, tapname: str, description: str,
                 make: Callable[[str], ReadyService]) -> None:
        self.tapname = tapname
        self.description = description
        self._make = make

    def makeService(self, options: ConfigOptions) -> IService:
        """Load the configuration (a usage error if it is wrong) and build the server."""
        try:
            server = self._make(options["config"])
        except ConfigError as error:
            raise usage.UsageError(str(error)) from None
        return _StopOnFailure(server, self.tapname)


def _keyserver(path: str) -> ReadyService:
    from sipperc.apps.keyserver import KeyServer, load_key_server_config  # noqa: PLC0415

    return KeyServer(load_key_server_config(path))


def _distributor(path: str) -> ReadyService:
    from sipperc.apps.distributor import (  # noqa: PLC0415
        DistributorServer,
        load_distributor_config,
    )

    return DistributorServer(load_distributor_config(path))


def _focus(path: str) -> ReadyService:
    from sipperc.apps.focus import FocusServer, load_focus_config  # noqa: PLC0415

    return FocusServer(load_focus_config(path))


keyserver = ServerMaker("perc-keyserver", "PERC Key Distributor (sipperc)", _keyserver)
distributor = ServerMaker("perc-distributor", "PERC Media Distributor (sipperc)", _distributor)
focus = ServerMaker("perc-focus", "SIP focus of PERC conferences (sipperc)", _focus)

__all__ = ["ConfigOptions", "ServerMaker", "distributor", "focus", "keyserver"]
