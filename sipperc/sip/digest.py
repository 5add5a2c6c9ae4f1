"""Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616, RFC 8760).

Three parts:

- the computation (:func:`digest_ha1`, :func:`digest_response`, :func:`username_hash`) for
  MD5, SHA-256 and SHA-512/256 and their ``-sess`` variants, with ``qop=auth``, ``auth-int``
  and the RFC 2069 form without qop;
- :class:`DigestClient`, which answers 401/407 challenges for a user agent, but only those from
  the registrars and proxies it was configured for (RFC 3261 §22: credentials go to the
  realm that asked, and a UA must never hand a digest to whatever peer it happens to call);
- :class:`DigestServer`, which challenges and checks requests for one realm with stateless
  nonces (an HMAC over a timestamp), says ``stale=true`` when a nonce expired, and refuses a
  nonce count it has already seen.

Everything is sans-I/O: callers pass ``now`` (monotonic seconds) and get messages back.
Passwords and HA1 values never appear in ``repr()``, exceptions or logs.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from twisted.logger import Logger

from sipperc.sip import headers as h
from sipperc.sip.errors import SipParseError
from sipperc.sip.headers import AuthValue, CSeq, HeaderField
from sipperc.sip.message import Request, Response
from sipperc.sip.uri import quote_string, unquote_string

__all__ = [
    "Authenticated",
    "Challenged",
    "DigestAccount",
    "DigestAlgorithm",
    "DigestChallenge",
    "DigestClient",
    "DigestCredentials",
    "DigestError",
    "DigestServer",
    "digest_ha1",
    "digest_response",
    "username_hash",
]

_log = Logger(namespace="sipperc.sip.digest")


class DigestError(ValueError):
    """A challenge or credentials value that cannot be used (malformed or unsupported)."""


class DigestAlgorithm(enum.Enum):
    """The digest algorithms of the IANA "HTTP Digest Hash Algorithms" registry (RFC 7616 §6.1).

    RFC 8760 brings SHA-256 and SHA-512/256 to SIP; MD5 stays for the phones that know nothing
    else. A ``-sess`` variant hashes the nonces into HA1 (RFC 7616 §3.4.2).
    """

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA_256 = "SHA-256"
    SHA_256_SESS = "SHA-256-sess"
    SHA_512_256 = "SHA-512-256"
    SHA_512_256_SESS = "SHA-512-256-sess"

    @property
    def session(self) -> bool:
        """True for the ``-sess`` variants."""
        return self.value.endswith("-sess")

    @property
    def strength(self) -> int:
        """Higher is stronger: how a client ranks several challenges (RFC 8760 §2.4)."""
        return _STRENGTH[self]

    def hash(self, data: str | bytes) -> str:
        """H(data) as lower-case hex (RFC 7616 §3.4); text is encoded as UTF-8."""
        octets = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
        return hashlib.new(_HASH_NAMES[self], octets).hexdigest()

    @classmethod
    def from_token(cls, token: str | None) -> DigestAlgorithm | None:
        """The algorithm a challenge names; absent means MD5 (RFC 2617 §3.2.1).

        Tokens compare case-insensitively; an unknown one gives None.
        """
        if token is None:
            return cls.MD5
        return _BY_TOKEN.get(token.lower())


_HASH_NAMES = {
    DigestAlgorithm.MD5: "md5",
    DigestAlgorithm.MD5_SESS: "md5",
    DigestAlgorithm.SHA_256: "sha256",
    DigestAlgorithm.SHA_256_SESS: "sha256",
    DigestAlgorithm.SHA_512_256: "sha512_256",
    DigestAlgorithm.SHA_512_256_SESS: "sha512_256",
}
# A plain algorithm ranks just above its -sess twin: both are as strong, and the plain one
# lets a server keep HA1 instead of the password.
_STRENGTH = {
    DigestAlgorithm.MD5_SESS: 0,
    DigestAlgorithm.MD5: 1,
    DigestAlgorithm.SHA_256_SESS: 2,
    DigestAlgorithm.SHA_256: 3,
    DigestAlgorithm.SHA_512_256_SESS: 4,
    DigestAlgorithm.SHA_512_256: 5,
}
_BY_TOKEN = {a.value.lower(): a for a in DigestAlgorithm}

QOP_AUTH = "auth"
QOP_AUTH_INT = "auth-int"


# --- the computation (RFC 7616 §3.4.1-§3.4.4, RFC 2617 §3.2.2) ------------------------------


def digest_ha1(algorithm: DigestAlgorithm, username: str, realm: str, password: str) -> str:
    """H(username ":" realm ":" password), the value a server may store instead of the password.

    For ``-sess`` algorithms :func:`digest_response` hashes the nonces into it (RFC 7616 §3.4.2).
    """
    return algorithm.hash(f"{username}:{realm}:{password}")


def username_hash(algorithm: DigestAlgorithm, username: str, realm: str) -> str:
    """The hashed username sent with ``userhash=true`` (RFC 7616 §3.4.4)."""
    return algorithm.hash(f"{username}:{realm}")


def digest_response(
    algorithm: DigestAlgorithm,
    ha1: str,
    *,
    method: str,
    uri: str,
    nonce: str,
    qop: str | None,
    nc: int = 1,
    cnonce: str = "",
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2617 §3.2.2.1 when ``qop`` is None).

    ``ha1`` is :func:`digest_ha1`; ``uri`` the digest-uri exactly as sent (in SIP the
    Request-URI, RFC 3261 §22.4); ``body`` is hashed into A2 for ``qop=auth-int``.
    """
    digest = algorithm.hash
    if algorithm.session:
        ha1 = digest(f"{ha1}:{nonce}:{cnonce}")
    if qop == QOP_AUTH_INT:
        ha2 = digest(f"{method}:{uri}:{digest(body)}")
    elif qop in (QOP_AUTH, None):
        ha2 = digest(f"{method}:{uri}")
    else:
        raise DigestError(f"unsupported qop {qop!r}")
    if qop is None:
        return digest(f"{ha1}:{nonce}:{ha2}")
    return digest(f"{ha1}:{nonce}:{nc:08x}:{cnonce}:{qop}:{ha2}")


# --- header values ---------------------------------------------------------------------------


def _quoted(text: str) -> str:
    try:
        return quote_string(text)
    except ValueError as exc:
        raise DigestError("a digest parameter cannot contain CR or LF") from exc


def _params(value: AuthValue) -> dict[str, str]:
    """The parameters of an auth value by lower-case name, unquoted (first one wins)."""
    params: dict[str, str] = {}
    for name, raw in value.params:
        key = name.lower()
        if key not in params:
            params[key] = unquote_string(raw) if raw.startswith('"') else raw
    return params


def _flag(value: str | None) -> bool:
    return value is not None and value.lower() == "true"


@dataclass(frozen=True, slots=True)
class DigestChallenge:
    """One ``Digest`` challenge of a WWW-Authenticate or Proxy-Authenticate (RFC 7616 §3.3)."""

    realm: str
    nonce: str
    algorithm: DigestAlgorithm = DigestAlgorithm.MD5
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False
    userhash: bool = False

    @classmethod
    def parse(cls, value: AuthValue) -> DigestChallenge:
        """Read a challenge.

        Raises :class:`DigestError` for another scheme, a missing realm or nonce, or an
        algorithm not in :class:`DigestAlgorithm`.
        """
        if value.scheme.lower() != "digest":
            raise DigestError(f"not a Digest challenge: {value.scheme}")
        params = _params(value)
        realm, nonce = params.get("realm"), params.get("nonce")
        if realm is None or nonce is None:
            raise DigestError("a Digest challenge needs realm and nonce")
        algorithm = DigestAlgorithm.from_token(params.get("algorithm"))
        if algorithm is None:
            raise DigestError(f"unsupported digest algorithm {params.get('algorithm')!r}")
        qop_text = params.get("qop")
        qop = () if qop_text is None else tuple(q.strip().lower() for q in qop_text.split(","))
        return cls(
            realm=realm,
            nonce=nonce,
            algorithm=algorithm,
            qop=tuple(q for q in qop if q),
            opaque=params.get("opaque"),
            stale=_flag(params.get("stale")),
            userhash=_flag(params.get("userhash")),
        )

    def to_auth_value(self) -> AuthValue:
        """The header value, parameters in RFC 7616 §3.3 order."""
        params = [("realm", _quoted(self.realm))]
        if self.qop:
            params.append(("qop", _quoted(",".join(self.qop))))
        params.append(("algorithm", self.algorithm.value))
        params.append(("nonce", _quoted(self.nonce)))
        if self.opaque is not None:
            params.append(("opaque", _quoted(self.opaque)))
        if self.stale:
            params.append(("stale", "true"))
        if self.userhash:
            params.append(("userhash", "true"))
        return AuthValue("Digest", tuple(params))

    def __str__(self) -> str:
        return str(self.to_auth_value())


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """The ``Digest`` credentials of an Authorization or Proxy-Authorization header (RFC 7616 §3.4).

    ``nc`` is the nonce count as a number (sent as 8 hex digits); ``response`` is left out of
    ``repr()``, since a captured response can be replayed while its nonce lives.
    """

    username: str
    realm: str
    nonce: str
    uri: str
    response: str = field(repr=False)
    algorithm: DigestAlgorithm = DigestAlgorithm.MD5
    qop: str | None = None
    nc: int | None = None
    cnonce: str | None = None
    opaque: str | None = None
    userhash: bool = False

    @classmethod
    def parse(cls, value: AuthValue) -> DigestCredentials:
        """Read credentials; raises :class:`DigestError` when malformed (RFC 7616 §3.4)."""
        if value.scheme.lower() != "digest":
            raise DigestError(f"not Digest credentials: {value.scheme}")
        params = _params(value)
        required = {name: params.get(name) for name in ("username", "realm", "nonce", "uri")}
        response = params.get("response")
        missing = [name for name, v in required.items() if v is None]
        if response is None:
            missing.append("response")
        if missing:
            raise DigestError(f"Digest credentials without {', '.join(missing)}")
        algorithm = DigestAlgorithm.from_token(params.get("algorithm"))
        if algorithm is None:
            raise DigestError(f"unsupported digest algorithm {params.get('algorithm')!r}")
        qop = params.get("qop")
        nc_text, cnonce = params.get("nc"), params.get("cnonce")
        nc: int | None = None
        if qop is not None:
            qop = qop.lower()
            if nc_text is None or cnonce is None:
                raise DigestError("Digest credentials with qop need nc and cnonce")
            if len(nc_text) != 8 or any(c not in "0123456789abcdefABCDEF" for c in nc_text):
                raise DigestError(f"nonce count {nc_text!r} is not 8 hex digits")
            nc = int(nc_text, 16)
        username, realm, nonce, uri = (required[n] for n in ("username", "realm", "nonce", "uri"))
        assert username is not None and realm is not None and nonce is not None
        assert uri is not None and response is not None
        return cls(
            username=username,
            realm=realm,
            nonce=nonce,
            uri=uri,
            response=response.lower(),
            algorithm=algorithm,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            opaque=params.get("opaque"),
            userhash=_flag(params.get("userhash")),
        )

    def to_auth_value(self) -> AuthValue:
        """The header value (RFC 7616 §3.4: qop, nc and algorithm unquoted)."""
        params = [
            ("username", _quoted(self.username)),
            ("realm", _quoted(self.realm)),
            ("nonce", _quoted(self.nonce)),
            ("uri", _quoted(self.uri)),
            ("response", _quoted(self.response)),
            ("algorithm", self.algorithm.value),
        ]
        if self.qop is not None:
            params += [
                ("qop", self.qop),
                ("nc", f"{self.nc or 0:08x}"),
                ("cnonce", _quoted(self.cnonce or "")),
            ]
        if self.opaque is not None:
            params.append(("opaque", _quoted(self.opaque)))
        if self.userhash:
            params.append(("userhash", "true"))
        return AuthValue("Digest", tuple(params))

    def __str__(self) -> str:
        return str(self.to_auth_value())


def _header_names(proxy: bool) -> tuple[str, str]:
    """(challenge header, credentials header): 407 uses the Proxy- pair (RFC 3261 §22.3)."""
    if proxy:
        return "Proxy-Authenticate", "Proxy-Authorization"
    return "WWW-Authenticate", "Authorization"


def _auth_values(message: Request | Response, name: str) -> list[AuthValue]:
    """Every row of an auth header that parses; a malformed row is skipped, not fatal."""
    values: list[AuthValue] = []
    header = h.TYPED_HEADERS[name.lower()]
    for row in message.get_all(name):
        try:
            parsed = header.parse_field(row)
        except SipParseError:
            continue
        values.extend(v for v in parsed if isinstance(v, AuthValue))
    return values


def _host_key(host: str) -> str:
    host = host.lower().rstrip(".")
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


# --- the client ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestAccount:
    """A user's credentials for the registrars and proxies in ``servers``.

    ``username`` is the authentication user name, which may differ from the user part of the
    AOR (RFC 3261 §22.4: "username" is chosen by the realm). ``servers`` lists the hosts
    (domain names or IP addresses, as the UA addresses them) whose challenges this account
    answers; ``realm`` None answers whatever realm those servers name. ``password`` is left out
    of ``repr()``.
    """

    username: str
    password: str = field(repr=False)
    servers: tuple[str, ...]
    realm: str | None = None

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("a DigestAccount needs at least one server to answer challenges from")
        object.__setattr__(self, "servers", tuple(_host_key(s) for s in self.servers))

    def answers(self, realm: str, hop: str) -> bool:
        """True when a challenge for ``realm`` from ``hop`` is for this account."""
        return (self.realm is None or self.realm == realm) and _host_key(hop) in self.servers


class _Kind(enum.Enum):
    """How the credentials for one realm in a request came about (the loop guard)."""

    PREEMPTIVE = "preemptive"  # reused from an earlier challenge
    ANSWER = "answer"  # answered a fresh challenge
    STALE_ANSWER = "stale answer"  # answered a stale=true challenge after an answer


@dataclass(slots=True)
class _Nonce:
    """A challenge being answered: the nonce count and cnonce that go with it."""

    challenge: DigestChallenge
    account: DigestAccount = field(repr=False)
    cnonce: str
    nc: int = 0


ALL_ALGORITHMS = tuple(DigestAlgorithm)


def _new_cnonce() -> str:
    return secrets.token_hex(16)


class DigestClient:
    """Answers 401 and 407 challenges for a user agent (RFC 3261 §22.2, §22.3).

    Only challenges from a configured server are answered: the UA says which ``hop`` (host)
    it sent the request to, and the challenge's realm must belong to an account for that
    host. A peer UA reached directly is never given a digest. It never loops: one answer per
    challenge, and one more only when the server says the nonce was ``stale``.

    Where a response carries several challenges for one realm (RFC 8760 §2.4: one per
    algorithm), the strongest supported algorithm is answered; challenges for several realms
    (forking proxies) are each answered when an account exists.
    """

    def __init__(
        self,
        accounts: Iterable[DigestAccount],
        *,
        algorithms: Iterable[DigestAlgorithm] = ALL_ALGORITHMS,
        cnonce: Callable[[], str] = _new_cnonce,
        memory: int = 1024,
    ) -> None:
        self._accounts = tuple(accounts)
        self._algorithms = frozenset(algorithms)
        self._cnonce = cnonce
        self._memory = memory
        # (hop, realm, proxy?) -> the last challenge answered, reused for later requests.
        self._nonces: OrderedDict[tuple[str, str, bool], _Nonce] = OrderedDict()
        # (Call-ID, CSeq) of each request this client authorized -> realm -> how.
        self._issued: OrderedDict[tuple[str, int], dict[str, _Kind]] = OrderedDict()

    def __repr__(self) -> str:
        return f"<DigestClient {len(self._accounts)} accounts>"

    def answer_challenge(
        self, request: Request, response: Response, hop: str, *, cseq: int | None = None
    ) -> Request | None:
        """The request to send again with credentials, or None when it must not be retried.

        ``request`` is the request that was challenged, ``response`` its 401 or 407, and
        ``hop`` the host the request was sent to (the registrar or outbound proxy the UA
        addressed, before DNS; an IP literal when it used one). The new request has the
        credentials for each realm answered, CSeq ``cseq`` (default: the old one plus one,
        RFC 3261 §22.1; a dialog passes its next local CSeq) and no Via: the transaction
        layer adds one with a new branch.
        """
        if response.status_code not in (401, 407):
            return None
        proxy = response.status_code == 407
        challenge_header, credentials_header = _header_names(proxy)
        strongest: dict[str, DigestChallenge] = {}
        for value in _auth_values(response, challenge_header):
            try:
                challenge = DigestChallenge.parse(value)
            except DigestError:
                continue
            if challenge.algorithm not in self._algorithms:
                continue
            if challenge.qop and not {QOP_AUTH, QOP_AUTH_INT} & set(challenge.qop):
                continue
            best = strongest.get(challenge.realm)
            if best is None or challenge.algorithm.strength > best.algorithm.strength:
                strongest[challenge.realm] = challenge
        previous = {
            c.realm: c
            for c in (_parse_credentials(v) for v in _auth_values(request, credentials_header))
            if c is not None
        }
        issued = self._issued.get(_request_key(request), {})
        hop_key = _host_key(hop)
        answered: dict[str, tuple[DigestChallenge, DigestAccount, _Kind]] = {}
        for realm, challenge in strongest.items():
            account = next((a for a in self._accounts if a.answers(realm, hop_key)), None)
            if account is None:
                _log.info(
                    "not answering a digest challenge: no account for this realm and hop",
                    realm=realm,
                    hop=hop_key,
                    call_id=request.call_id,
                )
                continue
            before = issued.get(realm, _Kind.ANSWER if realm in previous else None)
            if before is None or before is _Kind.PREEMPTIVE:
                kind = _Kind.ANSWER
            elif before is _Kind.ANSWER and challenge.stale:
                kind = _Kind.STALE_ANSWER
            else:
                _log.warn(
                    "digest credentials refused",
                    realm=realm,
                    hop=hop_key,
                    username=account.username,
                    call_id=request.call_id,
                )
                continue
            answered[realm] = (challenge, account, kind)
        if not answered:
            return None
        kept = [
            f
            for f in request.fields
            if f.key != "via"
            and not (f.key == credentials_header.lower() and _realm_of(f.value) in answered)
        ]
        new_seq = request.cseq.seq + 1 if cseq is None else cseq
        fields = [
            HeaderField.make("CSeq", CSeq(new_seq, request.method)) if f.key == "cseq" else f
            for f in kept
        ]
        retry = request.with_fields(fields)
        kinds: dict[str, _Kind] = {}
        for realm, (challenge, account, kind) in answered.items():
            state = _Nonce(challenge, account, self._cnonce())
            self._remember_nonce((hop_key, realm, proxy), state)
            retry = retry.append(credentials_header, self._credentials(retry, state))
            kinds[realm] = kind
            _log.info(
                "answering a digest challenge",
                realm=realm,
                algorithm=challenge.algorithm.value,
                stale=challenge.stale,
                call_id=request.call_id,
            )
        self._remember_issued(retry, kinds)
        return retry

    def authorize(self, request: Request, hop: str) -> Request:
        """``request`` with credentials for every realm ``hop`` challenged before.

        Reusing the last nonce with the next nonce count (RFC 3261 §22.3, RFC 7616 §3.4.5)
        spares a registration refresh or a new call the 401/407 round trip. A server that
        forgot the nonce challenges again and :meth:`answer_challenge` answers once more.
        Requests that already carry credentials for a realm keep them.
        """
        hop_key = _host_key(hop)
        kinds: dict[str, _Kind] = {}
        for (key_hop, realm, proxy), state in list(self._nonces.items()):
            if key_hop != hop_key:
                continue
            _, credentials_header = _header_names(proxy)
            present = {_realm_of(v) for v in request.get_all(credentials_header)}
            if realm in present:
                continue
            request = request.append(credentials_header, self._credentials(request, state))
            kinds[realm] = _Kind.PREEMPTIVE
        if kinds:
            self._remember_issued(request, kinds)
        return request

    def _credentials(self, request: Request, state: _Nonce) -> DigestCredentials:
        challenge = state.challenge
        account = state.account
        qop: str | None = None
        if challenge.qop:
            qop = QOP_AUTH if QOP_AUTH in challenge.qop else QOP_AUTH_INT
        state.nc += 1
        uri = str(request.uri)
        ha1 = digest_ha1(challenge.algorithm, account.username, challenge.realm, account.password)
        response = digest_response(
            challenge.algorithm,
            ha1,
            method=request.method,
            uri=uri,
            nonce=challenge.nonce,
            qop=qop,
            nc=state.nc,
            cnonce=state.cnonce,
            body=request.body,
        )
        username = account.username
        if challenge.userhash:
            username = username_hash(challenge.algorithm, username, challenge.realm)
        return DigestCredentials(
            username=username,
            realm=challenge.realm,
            nonce=challenge.nonce,
            uri=uri,
            response=response,
            algorithm=challenge.algorithm,
            qop=qop,
            nc=state.nc if qop else None,
            cnonce=state.cnonce if qop else None,
            opaque=challenge.opaque,
            userhash=challenge.userhash,
        )

    def _remember_nonce(self, key: tuple[str, str, bool], state: _Nonce) -> None:
        self._nonces[key] = state
        self._nonces.move_to_end(key)
        while len(self._nonces) > self._memory:
            self._nonces.popitem(last=False)

    def _remember_issued(self, request: Request, kinds: dict[str, _Kind]) -> None:
        key = _request_key(request)
        self._issued[key] = {**self._issued.get(key, {}), **kinds}
        self._issued.move_to_end(key)
        while len(self._issued) > self._memory:
            self._issued.popitem(last=False)


def _request_key(request: Request) -> tuple[str, int]:
    return request.call_id, request.cseq.seq


def _parse_credentials(value: AuthValue) -> DigestCredentials | None:
    try:
        return DigestCredentials.parse(value)
    except DigestError:
        return None


def _realm_of(text: str) -> str | None:
    """The realm named by an auth header row, or None when it cannot be read."""
    try:
        values = h.AUTHORIZATION.parse_field(text)
    except SipParseError:
        return None
    return values[0].get("realm") if values else None


# --- the server ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The request carries valid credentials of ``username`` in ``realm``."""

    username: str
    realm: str


@dataclass(frozen=True, slots=True)
class Challenged:
    """The request must be refused with ``response`` (a 401/407 challenge, or 400 if malformed).

    ``reason`` says why in words fit for a log line (never a secret).
    """

    response: Response
    reason: str


_NONCE_LABEL = b"sipperc digest nonce\x00"
_OPAQUE_LABEL = b"sipperc digest opaque\x00"
_NONCE_STRUCT = struct.Struct("!Q8s")
_MAC_SIZE = 16
_REPLAY_WINDOW = 64


@dataclass(slots=True)
class _Counts:
    """Nonce counts seen for one nonce: the highest and a bitmap of the 64 below it."""

    issued: float
    highest: int = 0
    seen: int = 0

    def accept(self, nc: int) -> bool:
        """Record ``nc``; False when it was seen before or is too old to tell (a replay)."""
        if nc > self.highest:
            shift = nc - self.highest
            self.seen = ((self.seen << shift) | 1) & ((1 << _REPLAY_WINDOW) - 1)
            self.highest = nc
            return True
        back = self.highest - nc
        if back >= _REPLAY_WINDOW or self.seen >> back & 1:
            return False
        self.seen |= 1 << back
        return True


class DigestServer:
    """Challenges and checks requests for one realm (RFC 3261 §22.2-§22.4, RFC 7616 §3.3, §3.4).

    Nonces are stateless: a timestamp and 8 random octets under an HMAC with ``secret``, so
    any process holding the secret can check them, and a restart with the same secret keeps
    clients registered. A nonce older than ``nonce_lifetime`` seconds earns ``stale=true``
    (when the digest itself was right, RFC 7616 §3.3). Nonce counts are remembered per nonce
    (up to ``max_nonces``; older ones are then treated as expired), and a count seen twice is
    refused with a fresh stale challenge, so a captured request cannot be replayed.

    ``lookup(username)`` gives the user's password, or None for an unknown user (answered
    exactly like a wrong password). ``algorithms`` are offered in this order, one challenge
    each, most preferred first (RFC 8760 §2.4). ``proxy`` selects 407 and the Proxy- headers.
    """

    def __init__(
        self,
        realm: str,
        lookup: Callable[[str], str | None],
        secret: bytes,
        *,
        algorithms: Sequence[DigestAlgorithm] = (DigestAlgorithm.SHA_256, DigestAlgorithm.MD5),
        qop: Sequence[str] = (QOP_AUTH,),
        nonce_lifetime: float = 300.0,
        proxy: bool = False,
        max_nonces: int = 65536,
    ) -> None:
        if len(secret) < 16:
            raise ValueError("the nonce secret must be at least 16 bytes")
        if not algorithms:
            raise ValueError("offer at least one digest algorithm")
        unknown_qop = set(qop) - {QOP_AUTH, QOP_AUTH_INT}
        if not qop or unknown_qop:
            raise ValueError("qop must be a non-empty choice of 'auth' and 'auth-int'")
        self.realm = realm
        self.algorithms = tuple(algorithms)
        self.qop = tuple(qop)
        self.nonce_lifetime = nonce_lifetime
        self.proxy = proxy
        self._lookup = lookup
        self._secret = bytes(secret)
        self._max_nonces = max_nonces
        self._opaque = _b64(
            hmac.digest(self._secret, _OPAQUE_LABEL + realm.encode(), "sha256")[:12]
        )
        self._counts: OrderedDict[str, _Counts] = OrderedDict()
        self._forgotten_before = -1.0

    def __repr__(self) -> str:
        names = ",".join(a.value for a in self.algorithms)
        return f"<DigestServer realm={self.realm!r} {names} proxy={self.proxy}>"

    # -- nonces --

    def new_nonce(self, now: float) -> str:
        """A fresh nonce stamped with ``now``."""
        stamp = max(0, int(now * 1000))
        body = _NONCE_STRUCT.pack(stamp, secrets.token_bytes(8))
        return _b64(body + self._nonce_mac(body))

    def _nonce_mac(self, body: bytes) -> bytes:
        message = _NONCE_LABEL + self.realm.encode() + b"\x00" + body
        return hmac.digest(self._secret, message, "sha256")[:_MAC_SIZE]

    def _nonce_issued(self, nonce: str) -> float | None:
        """When a nonce was issued (seconds), or None when it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_STRUCT.size + _MAC_SIZE:
            return None
        body, mac = raw[: _NONCE_STRUCT.size], raw[_NONCE_STRUCT.size :]
        if not hmac.compare_digest(mac, self._nonce_mac(body)):
            return None
        stamp, _ = _NONCE_STRUCT.unpack(body)
        return float(stamp) / 1000.0

    # -- challenges --

    def challenge(self, request: Request, now: float, *, stale: bool = False) -> Response:
        """A 401 (or 407 for a proxy) offering every configured algorithm, one nonce."""
        challenge_header, _ = _header_names(self.proxy)
        nonce = self.new_nonce(now)
        headers = [
            (
                challenge_header,
                DigestChallenge(
                    realm=self.realm,
                    nonce=nonce,
                    algorithm=algorithm,
                    qop=self.qop,
                    opaque=self._opaque,
                    stale=stale,
                ).to_auth_value(),
            )
            for algorithm in self.algorithms
        ]
        return request.response(407 if self.proxy else 401, headers=headers)

    def check(self, request: Request, now: float) -> Response | None:
        """None when ``request`` may proceed, else the response to send (401/407/400).

        ACK and CANCEL are never challenged (RFC 3261 §22.1): they cannot be resubmitted.
        """
        if request.method in ("ACK", "CANCEL"):
            return None
        verdict = self.verify(request, now)
        return verdict.response if isinstance(verdict, Challenged) else None

    def verify(self, request: Request, now: float) -> Authenticated | Challenged:
        """Check the credentials in ``request`` for this realm; who it is, or how to refuse.

        The response is checked against the ``uri`` the client hashed, which is not compared
        with the Request-URI: a proxy may have rewritten that on the way (a registered
        contact, RFC 3261 §16.5), and a replay to another resource is caught by the nonce
        count anyway. Raises ValueError for ACK and CANCEL, which must not be challenged
        (RFC 3261 §22.1).
        """
        if request.method in ("ACK", "CANCEL"):
            raise ValueError(f"{request.method} cannot be challenged (RFC 3261 §22.1)")
        _, credentials_header = _header_names(self.proxy)
        credentials: DigestCredentials | None = None
        for value in _auth_values(request, credentials_header):
            if value.scheme.lower() != "digest" or value.get("realm") != self.realm:
                continue
            try:
                credentials = DigestCredentials.parse(value)
            except DigestError as exc:
                return self._refuse(request, now, f"malformed credentials: {exc}", bad=True)
            break
        if credentials is None:
            return Challenged(self.challenge(request, now), "no credentials")
        if credentials.algorithm not in self.algorithms:
            return self._refuse(request, now, "algorithm not offered")
        if credentials.qop not in self.qop:
            return self._refuse(request, now, "qop not offered")
        if credentials.userhash:
            return self._refuse(request, now, "userhash not offered")
        issued = self._nonce_issued(credentials.nonce)
        if issued is None or issued > now + 1.0:
            return self._refuse(request, now, "nonce not issued here")
        if credentials.opaque != self._opaque:
            return self._refuse(request, now, "opaque does not match")
        password = self._lookup(credentials.username)
        if password is None:
            return self._refuse(request, now, "unknown user", credentials)
        ha1 = digest_ha1(credentials.algorithm, credentials.username, self.realm, password)
        expected = digest_response(
            credentials.algorithm,
            ha1,
            method=request.method,
            uri=credentials.uri,
            nonce=credentials.nonce,
            qop=credentials.qop,
            nc=credentials.nc or 0,
            cnonce=credentials.cnonce or "",
            body=request.body,
        )
        if not hmac.compare_digest(expected, credentials.response):
            return self._refuse(request, now, "wrong response", credentials)
        # The digest is right: from here on a refusal is stale=true (RFC 7616 §3.3).
        if now - issued > self.nonce_lifetime:
            return self._refuse(request, now, "nonce expired", credentials, stale=True)
        if not self._count(credentials.nonce, issued, credentials.nc or 0, now):
            return self._refuse(request, now, "nonce count replayed", credentials, stale=True)
        return Authenticated(credentials.username, self.realm)

    def _count(self, nonce: str, issued: float, nc: int, now: float) -> bool:
        counts = self._counts
        while counts:
            oldest = next(iter(counts.values()))
            if now - oldest.issued <= self.nonce_lifetime:
                break
            counts.popitem(last=False)
        entry = counts.get(nonce)
        if entry is None:
            if issued <= self._forgotten_before:
                return False
            entry = counts[nonce] = _Counts(issued)
            while len(counts) > self._max_nonces:
                _, dropped = counts.popitem(last=False)
                self._forgotten_before = max(self._forgotten_before, dropped.issued)
        return nc > 0 and entry.accept(nc)

    def _refuse(
        self,
        request: Request,
        now: float,
        reason: str,
        credentials: DigestCredentials | None = None,
        *,
        stale: bool = False,
        bad: bool = False,
    ) -> Challenged:
        _log.info(
            "digest authentication refused",
            realm=self.realm,
            reason=reason,
            username=None if credentials is None else credentials.username,
            call_id=request.call_id,
            method=request.method,
        )
        if bad:
            return Challenged(request.response(400, "Malformed Credentials"), reason)
        return Challenged(self.challenge(request, now, stale=stale), reason)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
