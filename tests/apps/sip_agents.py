"""A plain user agent on 127.0.0.1 to call the SIP tools (or be called by them), in-process."""

from __future__ import annotations

from twisted.internet import defer, reactor

from sipperc.sip.invite_session import InviteSessionConfig
from sipperc.sip.twisted_user_agent import TwistedUserAgent
from sipperc.sip.user_agent import UserAgentConfig
from tests.sip.ua_harness import engines


class Events:
    """Collects an agent's events; :meth:`wait` fires on the next event of a kind."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.waiters: list[tuple[type, defer.Deferred]] = []
        self.on: dict[type, object] = {}

    def __call__(self, event: object) -> None:
        self.events.append(event)
        for kind, waiter in list(self.waiters):
            if isinstance(event, kind):
                self.waiters.remove((kind, waiter))
                reactor.callLater(0, waiter.callback, event)
        action = self.on.get(type(event))
        if action is not None:
            action(event)  # type: ignore[operator]

    def wait(self, kind: type, timeout: float = 5.0) -> defer.Deferred:
        waiter: defer.Deferred = defer.Deferred()
        self.waiters.append((kind, waiter))
        return waiter.addTimeout(timeout, reactor)

    def of(self, kind: type) -> list:
        return [e for e in self.events if isinstance(e, kind)]


def plain_agent(test, name: str = "alice", transport: str = "udp", *,
                session: InviteSessionConfig | None = None) -> tuple[TwistedUserAgent, Events]:
    """A user agent with G.711 on an ephemeral port, stopped when ``test`` ends."""
    events = Events()
    agent = TwistedUserAgent.listen(
        [f"{transport}:127.0.0.1:0"], engines("127.0.0.1"),
        UserAgentConfig(user=name, session=session or InviteSessionConfig()),
        on_event=events, reactor=reactor)
    test.addCleanup(agent.stop)
    return agent, events
