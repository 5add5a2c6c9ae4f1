"""The conference event package's document: ``application/conference-info+xml`` (RFC 4575).

A focus tells subscribers (``SUBSCRIBE`` with ``Event: conference``, RFC 4575 §3) who is in the
conference: first the full state, then partial documents with only what changed (§4.4: a
``<user>`` with ``state="partial"`` replaces the user's data, ``state="deleted"`` removes it).
Every document of one subscription carries a ``version`` one higher than the last (§4.6), so a
subscriber can tell a lost NOTIFY (a gap: ask again for the full state, by re-SUBSCRIBE) from a
repeated or late one (ignore it).

What sipperc writes (namespace ``urn:ietf:params:xml:ns:conference-info``)::

    <conference-info entity="sip:room@host" state="full|partial" version="N">
      <conference-description>
        <display-text>Design review</display-text>
        <maximum-user-count>25</maximum-user-count>
      </conference-description>
      <conference-state><user-count>3</user-count><active>true</active>
        <locked>false</locked></conference-state>
      <users>
        <user entity="sip:alice@example.com" state="full">
          <display-text>Alice</display-text>
          <endpoint entity="sip:alice@example.com;participant=..." state="full">
            <status>connected</status><joining-method>dialed-in</joining-method>
            <media id="1"><type>audio</type><status>sendrecv</status></media>
          </endpoint>
        </user>
      </users>
    </conference-info>

A user calling from two devices is one ``<user>`` with two ``<endpoint>`` elements; a partial
document lists only the endpoints that changed (``state="deleted"`` for one that left). A
muted participant's media status is ``recvonly`` (it receives, does not send, §5.7.1.3).

Talking. RFC 4575 has no element for who is talking; §5 lets a document carry elements of
other namespaces, and a reader ignores those it does not know. sipperc puts one in the
endpoint's ``<media>``, present while the Media Distributor hears that endpoint talk::

    <media id="1"><type>audio</type><status>sendrecv</status>
      <talking xmlns="urn:sipperc:params:xml:ns:conference-info-talking">true</talking></media>

``true`` while talking, ``false`` (or absent) otherwise; a partial document carries it like
any other change of the endpoint.

:func:`render_conference_info` writes a document, :func:`parse_conference_info` reads one
(:class:`ConferenceInfoError` naming what is wrong; a DOCTYPE is refused outright, so no
entity expansion can happen), and :class:`ConferenceRoster` is the subscriber's merged view
that applies full and partial documents in version order.
"""

from __future__ import annotations

import enum
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace

NAMESPACE = "urn:ietf:params:xml:ns:conference-info"
TALKING_NAMESPACE = "urn:sipperc:params:xml:ns:conference-info-talking"
"""The namespace of sipperc's ``<talking>`` extension element (RFC 4575 §5 extensibility)."""
_TALKING = f"{{{TALKING_NAMESPACE}}}talking"
CONTENT_TYPE = "application/conference-info+xml"
EVENT_PACKAGE = "conference"
_N = f"{{{NAMESPACE}}}"


class ConferenceInfoError(ValueError):
    """A conference-info document that is not well formed or breaks RFC 4575."""


class DocumentState(enum.Enum):
    """The ``state`` attribute (RFC 4575 §5.1)."""

    FULL = "full"
    PARTIAL = "partial"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class ConferenceEndpoint:
    """One ``<endpoint>`` of a user: one device or call (RFC 4575 §5.7), with its audio.

    ``state`` DELETED in a partial document means this device left.
    """

    entity: str
    status: str | None = "connected"
    joining_method: str | None = None
    media_status: str | None = None
    display_text: str | None = None
    state: DocumentState = DocumentState.FULL
    talking: bool = False
    """sipperc's extension: the Media Distributor hears this endpoint talk (module docs)."""

    @property
    def muted(self) -> bool:
        """True when this endpoint's audio is not sent to the conference (§5.7.1.3)."""
        return self.media_status in ("recvonly", "inactive")


@dataclass(frozen=True, slots=True)
class ConferenceUser:
    """One ``<user>`` (RFC 4575 §5.6): a person, with one endpoint per device in the call.

    ``state`` DELETED means the user left (a partial document's way to say so); PARTIAL
    means only the endpoints listed changed.
    """

    entity: str
    display_text: str | None = None
    endpoints: tuple[ConferenceEndpoint, ...] = ()
    state: DocumentState = DocumentState.FULL

    @property
    def talking(self) -> bool:
        """True when one of the user's endpoints is talking (sipperc's extension)."""
        return any(e.talking for e in self.endpoints)

    @property
    def muted(self) -> bool:
        """True when none of the user's endpoints sends audio."""
        return bool(self.endpoints) and all(e.muted for e in self.endpoints)


@dataclass(frozen=True, slots=True)
class ConferenceInfo:
    """One conference-info document (or the merged state of several)."""

    entity: str
    version: int | None = None
    state: DocumentState = DocumentState.FULL
    display_text: str | None = None
    maximum_user_count: int | None = None
    user_count: int | None = None
    locked: bool | None = None
    users: tuple[ConferenceUser, ...] = ()

    def user(self, entity: str) -> ConferenceUser | None:
        """The user with this entity, if listed."""
        return next((u for u in self.users if u.entity == entity), None)


def render_conference_info(info: ConferenceInfo) -> bytes:
    """The XML of ``info`` (UTF-8, with the XML declaration); ``version`` is required."""
    if info.version is None or info.version < 0:
        raise ValueError("a conference-info document needs a version (RFC 4575 §4.6)")
    root = ET.Element("conference-info", {"xmlns": NAMESPACE, "entity": info.entity,
                                          "state": info.state.value,
                                          "version": str(info.version)})
    if info.display_text is not None or info.maximum_user_count is not None:
        description = ET.SubElement(root, "conference-description")
        _text(description, "display-text", info.display_text)
        _text(description, "maximum-user-count", info.maximum_user_count)
    if info.user_count is not None or info.locked is not None:
        state = ET.SubElement(root, "conference-state")
        _text(state, "user-count", info.user_count)
        _text(state, "active", "true")
        _text(state, "locked", None if info.locked is None else str(info.locked).lower())
    if info.users or info.state is DocumentState.FULL:
        users = ET.SubElement(root, "users")
        for user in info.users:
            element = ET.SubElement(users, "user", {"entity": user.entity,
                                                    "state": user.state.value})
            if user.state is DocumentState.DELETED:
                continue
            _text(element, "display-text", user.display_text)
            for endpoint in user.endpoints:
                child = ET.SubElement(element, "endpoint", {"entity": endpoint.entity,
                                                            "state": endpoint.state.value})
                if endpoint.state is DocumentState.DELETED:
                    continue
                _text(child, "display-text", endpoint.display_text)
                _text(child, "status", endpoint.status)
                _text(child, "joining-method", endpoint.joining_method)
                if endpoint.media_status is not None:
                    media = ET.SubElement(child, "media", {"id": "1"})
                    _text(media, "type", "audio")
                    _text(media, "status", endpoint.media_status)
                    if endpoint.talking:
                        ET.SubElement(media, "talking", {"xmlns": TALKING_NAMESPACE}).text = \
                            "true"
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _text(parent: ET.Element, tag: str, value: object) -> None:
    if value is not None:
        ET.SubElement(parent, tag).text = str(value)


def parse_conference_info(data: bytes) -> ConferenceInfo:
    """Read a conference-info document; :class:`ConferenceInfoError` says what is wrong."""
    if b"<!DOCTYPE" in data.upper() or b"<!ENTITY" in data.upper():
        raise ConferenceInfoError("a DOCTYPE or entity declaration is not allowed")
    try:
        root = ET.fromstring(data)  # noqa: S314 - DOCTYPE refused above: no entities to expand
    except ET.ParseError as exc:
        raise ConferenceInfoError(f"not well-formed XML: {exc}") from None
    if root.tag != f"{_N}conference-info":
        raise ConferenceInfoError(f"the root element is {root.tag}, not conference-info in "
                                  f"{NAMESPACE}")
    entity = root.get("entity")
    if not entity:
        raise ConferenceInfoError("conference-info has no entity attribute (RFC 4575 §5.1)")
    version = _integer(root.get("version"), "version")
    if version is None:
        raise ConferenceInfoError("conference-info has no version attribute (RFC 4575 §5.1)")
    description = root.find(f"{_N}conference-description")
    conference_state = root.find(f"{_N}conference-state")
    users = []
    for element in root.findall(f"{_N}users/{_N}user"):
        user_entity = element.get("entity")
        if not user_entity:
            raise ConferenceInfoError("a user has no entity attribute (RFC 4575 §5.6)")
        endpoints = []
        for endpoint in element.findall(f"{_N}endpoint"):
            endpoint_entity = endpoint.get("entity")
            if not endpoint_entity:
                raise ConferenceInfoError("an endpoint has no entity attribute (RFC 4575 "
                                          "§5.7)")
            media = endpoint.find(f"{_N}media")
            talking = None if media is None else media.findtext(_TALKING)
            if talking not in (None, "true", "false", "1", "0"):
                raise ConferenceInfoError(f"talking is {talking!r}, not a boolean")
            endpoints.append(ConferenceEndpoint(
                endpoint_entity, _child_text(endpoint, "status"),
                _child_text(endpoint, "joining-method"), _child_text(media, "status"),
                _child_text(endpoint, "display-text"), _state(endpoint.get("state", "full")),
                talking=talking in ("true", "1")))
        users.append(ConferenceUser(
            entity=user_entity, display_text=_child_text(element, "display-text"),
            endpoints=tuple(endpoints), state=_state(element.get("state", "full"))))
    locked = _child_text(conference_state, "locked")
    if locked not in (None, "true", "false", "1", "0"):
        raise ConferenceInfoError(f"locked is {locked!r}, not a boolean")
    return ConferenceInfo(
        entity=entity, version=version, state=_state(root.get("state", "full")),
        display_text=_child_text(description, "display-text"),
        maximum_user_count=_integer(_child_text(description, "maximum-user-count"),
                                    "maximum-user-count"),
        user_count=_integer(_child_text(conference_state, "user-count"), "user-count"),
        locked=None if locked is None else locked in ("true", "1"), users=tuple(users))


def _child_text(parent: ET.Element | None, tag: str) -> str | None:
    if parent is None:
        return None
    child = parent.find(f"{_N}{tag}")
    if child is None:
        return None
    return (child.text or "").strip()


def _integer(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise ConferenceInfoError(f"{what} is {text!r}, not an unsigned integer")
    return int(text)


def _state(text: str) -> DocumentState:
    try:
        return DocumentState(text)
    except ValueError:
        raise ConferenceInfoError(f"state {text!r} is not full, partial or deleted") from None


class RosterOutcome(enum.Enum):
    """What :meth:`ConferenceRoster.apply` did with a document."""

    APPLIED = "applied"
    STALE = "stale"
    """Its version is not newer than what we have: ignored (RFC 4575 §4.6)."""
    GAP = "gap"
    """A partial document after a lost one: the state is unknown until a full document
    arrives; re-SUBSCRIBE to get one (RFC 4575 §4.6)."""


class ConferenceRoster:
    """A subscriber's view of a conference, merged from full and partial documents."""

    def __init__(self) -> None:
        self.state: ConferenceInfo | None = None

    def apply(self, document: ConferenceInfo) -> RosterOutcome:
        """Merge a received document in version order (RFC 4575 §4.4, §4.6)."""
        current = self.state
        assert document.version is not None
        if current is not None and current.version is not None and \
                document.version <= current.version:
            return RosterOutcome.STALE
        if document.state is DocumentState.FULL:
            self.state = document
            return RosterOutcome.APPLIED
        if current is None or current.version is None or document.version != current.version + 1:
            return RosterOutcome.GAP
        users = {u.entity: u for u in current.users}
        for user in document.users:
            known = users.get(user.entity)
            if user.state is DocumentState.DELETED:
                users.pop(user.entity, None)
            elif user.state is DocumentState.FULL or known is None:
                users[user.entity] = _settled(user, {})
            else:  # partial: listed endpoints change, the others stay (§4.4)
                users[user.entity] = _settled(
                    replace(user, display_text=user.display_text or known.display_text),
                    {e.entity: e for e in known.endpoints})
        self.state = replace(
            current, version=document.version,
            display_text=document.display_text or current.display_text,
            maximum_user_count=(document.maximum_user_count
                                if document.maximum_user_count is not None
                                else current.maximum_user_count),
            user_count=(document.user_count if document.user_count is not None
                        else current.user_count),
            locked=document.locked if document.locked is not None else current.locked,
            users=tuple(users.values()))
        return RosterOutcome.APPLIED

    @property
    def entities(self) -> set[str]:
        """Who is in the conference now."""
        return {u.entity for u in self.state.users} if self.state is not None else set()


def _settled(user: ConferenceUser, endpoints: dict[str, ConferenceEndpoint]) -> ConferenceUser:
    """``user`` with its endpoints merged into ``endpoints``, every state made full."""
    for endpoint in user.endpoints:
        if endpoint.state is DocumentState.DELETED:
            endpoints.pop(endpoint.entity, None)
        else:
            endpoints[endpoint.entity] = replace(endpoint, state=DocumentState.FULL)
    return replace(user, endpoints=tuple(endpoints.values()), state=DocumentState.FULL)


__all__ = [
    "CONTENT_TYPE",
    "EVENT_PACKAGE",
    "NAMESPACE",
    "ConferenceEndpoint",
    "ConferenceInfo",
    "ConferenceInfoError",
    "ConferenceRoster",
    "ConferenceUser",
    "DocumentState",
    "RosterOutcome",
    "parse_conference_info",
    "render_conference_info",
]
