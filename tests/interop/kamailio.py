"""A real Kamailio 5.6 for interop tests: registrar, stateful record-routing proxy, digest auth.

``Kamailio(directory, users=[...])`` writes a config and, on :meth:`Kamailio.start`, runs
kamailio in the foreground on 127.0.0.1 (UDP and TCP on one free port), waits until it answers
OPTIONS, and :meth:`Kamailio.stop` ends it. The ``kamailio`` fixture hands out started
instances and stops them after the test.

What the config does (one ``request_route``):

- REGISTER for the served ``domain``: 423 below ``min_expires`` (``min_expires_mode 1``),
  digest-authenticated with the ``auth`` module and
  ``pv_www_authenticate`` against the static passwords of ``users`` (401; ``stale=true``
  when the nonce expired), the auth user must own the AOR (403 otherwise), then
  ``save("location")`` in usrloc with ``db_mode 0`` (memory only).
- Other requests from a local user: ``pv_proxy_authenticate`` (407), then ``lookup`` of the
  Request-URI in the location table and ``t_relay`` (stateful), with ``record_route`` on
  dialog-creating requests; in-dialog requests follow ``loose_route`` (one that names no
  route of ours gets 404, so a UA ignoring its route set is noticed). Both log a line
  (``initial: METHOD call CALL-ID to URI from HOST:PORT``, ``loose_route: ...``) that
  :meth:`Kamailio.routed` reads back.
- OPTIONS to the server itself: 200 (how readiness is detected).

``algorithm`` is the ``auth`` module's digest algorithm (``MD5`` or ``SHA-256``): Kamailio
5.6 offers one per instance, so a test wanting both starts two.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from sipperc.sip import Request, Response, Via, new_branch, new_call_id, new_tag, parse_message
from sipperc.sip.uri import Parameters

KAMAILIO = shutil.which("kamailio") or "/usr/sbin/kamailio"
MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


@dataclass(frozen=True)
class KamailioUser:
    """A subscriber: AOR user part, password, and the auth user name if it differs."""

    user: str
    password: str
    auth_user: str | None = None

    @property
    def username(self) -> str:
        """The user name digest credentials carry."""
        return self.auth_user or self.user


def _cfg_string(text: str) -> str:
    if any(c in text for c in '"\\\r\n$'):
        raise ValueError(f"{text!r}: keep config strings to plain characters")
    return f'"{text}"'


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (as far as one can tell)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port for kamailio")


class Kamailio:
    """One kamailio process and its files in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        users: Sequence[KamailioUser] = (),
        domain: str = "sipperc.test",
        algorithm: str = "MD5",
        authenticate: bool = True,
        nonce_expire: int = 300,
        min_expires: int = 60,
        max_expires: int = 3600,
        port: int | None = None,
        shm_mb: int = 64,
        workers: int = 2,
    ) -> None:
        if algorithm not in ("MD5", "SHA-256"):
            raise ValueError("Kamailio 5.6 digest algorithms: MD5 or SHA-256")
        self.directory = directory
        self.users = tuple(users)
        self.domain = domain
        self.algorithm = algorithm
        self.authenticate = authenticate
        self.nonce_expire = nonce_expire
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.port = port or free_port()
        self.shm_mb = shm_mb
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None
        self.config_path = directory / "kamailio.cfg"
        self.log_path = directory / "kamailio.log"

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (UDP and TCP)."""
        return ("127.0.0.1", self.port)

    @property
    def log(self) -> str:
        """Everything kamailio wrote so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def routed(self, kind: str, method: str, call_id: str) -> list[str]:
        """The log lines of requests Kamailio relayed: ``kind`` ``initial`` (an
        out-of-dialog request after lookup) or ``loose_route`` (in-dialog, by its Route
        header), for ``method`` in the call ``call_id``.
        """
        prefix = f"{kind}: {method} call {call_id} "
        return [line[line.index(prefix):] for line in self.log.splitlines() if prefix in line]

    def config(self) -> str:
        """The kamailio.cfg text."""
        credentials = "\n".join(
            f"    if ($au == {_cfg_string(u.username)}) {{\n"
            f"        $var(password) = {_cfg_string(u.password)};\n"
            f"        $var(aor_user) = {_cfg_string(u.user)};\n"
            f"    }}"
            for u in self.users
        )
        auth_register = AUTH_REGISTER if self.authenticate else ""
        auth_proxy = AUTH_PROXY if self.authenticate else ""
        return CONFIG.format(
            port=self.port,
            domain=_cfg_string(self.domain),
            modules=_cfg_string(MODULES),
            algorithm=_cfg_string(self.algorithm),
            nonce_expire=self.nonce_expire,
            min_expires=self.min_expires,
            max_expires=self.max_expires,
            secret=_cfg_string(secrets.token_hex(16)),
            unknown_password=_cfg_string(secrets.token_hex(16)),  # matches no one's digest
            credentials=credentials,
            auth_register=auth_register,
            auth_proxy=auth_proxy,
        )

    def start(self, timeout: float = 10.0) -> None:
        """Write the config, start kamailio in the foreground, wait until it answers."""
        run_dir = self.directory / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(self.config())
        command = [
            KAMAILIO,
            "-f", str(self.config_path),
            "-DD",  # no daemon: stays our child
            "-E",  # log to stderr
            "-n", str(self.workers),
            "-m", str(self.shm_mb),
            "-M", "8",
            "-Y", str(run_dir),
            "-P", str(self.directory / "kamailio.pid"),
        ]  # fmt: skip
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"kamailio exited with {self.process.returncode}:\n{self.log}")
            if self.ping():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"kamailio did not answer OPTIONS in {timeout} s:\n{self.log}")

    def ping(self, wait: float = 0.2) -> bool:
        """True when kamailio answers an OPTIONS over UDP with 200."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(wait)
            port = sock.getsockname()[1]
            options = Request.build(
                "OPTIONS",
                f"sip:{self.domain}",
                from_=f"<sip:probe@127.0.0.1:{port}>;tag={new_tag()}",
                to=f"<sip:{self.domain}>",
                call_id=new_call_id(),
                cseq=1,
                via=Via("UDP", "127.0.0.1", port, Parameters([("branch", new_branch())])),
            )
            sock.sendto(bytes(options), self.address)
            try:
                data, _ = sock.recvfrom(65535)
            except (TimeoutError, ConnectionRefusedError):
                return False
        response = parse_message(data)
        return isinstance(response, Response) and response.status_code == 200

    def stop(self) -> None:
        """End kamailio (SIGTERM; its process group is killed if it lingers)."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the group we started with the process
            process.wait(timeout=5)

    def __enter__(self) -> Kamailio:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def kamailio(tmp_path: Path) -> Iterator[Callable[..., Kamailio]]:
    """Start Kamailio instances (keyword arguments as for :class:`Kamailio`); all are
    stopped after the test.
    """
    if shutil.which("kamailio") is None and not Path(KAMAILIO).exists():
        pytest.skip("kamailio is not installed (scripts/setup installs it)")
    started: list[Kamailio] = []

    def start(**kwargs: object) -> Kamailio:
        server = Kamailio(tmp_path / f"kamailio{len(started)}", **kwargs)  # type: ignore[arg-type]
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


AUTH_REGISTER = """
    if (!has_credentials("$td")) {
        www_challenge("$td", "1");
        exit;
    }
    route(CREDENTIALS);
    pv_www_authenticate("$td", "$var(password)", "0");
    $var(rc) = $rc;
    if ($var(rc) < 0) {
        xlog("L_INFO", "REGISTER $tu challenged (code $var(rc)) from $si:$sp\\n");
        if ($var(rc) == -4 || $var(rc) == -6) {
            www_challenge("$td", "17");
        } else {
            www_challenge("$td", "1");
        }
        exit;
    }
    if ($tU != $var(aor_user)) {
        sl_send_reply("403", "Auth User Does Not Own AOR");
        exit;
    }
    consume_credentials();
"""

AUTH_PROXY = """
    if (!(from_uri == myself)) {
        return;
    }
    if (!has_credentials("$fd")) {
        proxy_challenge("$fd", "1");
        exit;
    }
    route(CREDENTIALS);
    pv_proxy_authenticate("$fd", "$var(password)", "0");
    $var(rc) = $rc;
    if ($var(rc) < 0) {
        if ($var(rc) == -4 || $var(rc) == -6) {
            proxy_challenge("$fd", "17");
        } else {
            proxy_challenge("$fd", "1");
        }
        exit;
    }
    if ($fU != $var(aor_user)) {
        sl_send_reply("403", "Auth User Does Not Own From");
        exit;
    }
    consume_credentials();
"""

CONFIG = """#!KAMAILIO
# Written by tests/interop/kamailio.py for one test run.
debug=2
log_stderror=yes
auto_aliases=no
alias={domain}
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
dns=no
rev_dns=no
dns_try_ipv6=no
dns_try_naptr=no
use_dns_cache=off

loadpath {modules}
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "min_expires", {min_expires})
modparam("registrar", "min_expires_mode", 1)
modparam("registrar", "max_expires", {max_expires})
modparam("auth", "algorithm", {algorithm})
modparam("auth", "nonce_expire", {nonce_expire})
modparam("auth", "secret", {secret})
modparam("rr", "append_fromtag", 1)

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("1511", "7")) {{
        xlog("L_WARN", "malformed request from $si:$sp\\n");
        exit;
    }}
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    if (!is_method("ACK")) {{
        if (t_precheck_trans()) {{
            t_check_trans();
            exit;
        }}
        t_check_trans();
    }}
    if (has_totag()) {{
        route(WITHINDLG);
        exit;
    }}
    if (is_method("REGISTER")) {{
        route(REGISTRAR);
        exit;
    }}
    if (is_method("ACK")) {{
        exit;
    }}
    remove_hf("Route");
    if (is_method("INVITE|SUBSCRIBE|REFER")) {{
        record_route();
    }}
    route(AUTH);
    if ($rU == $null) {{
        sl_send_reply("484", "Address Incomplete");
        exit;
    }}
    if (uri == myself) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Registered");
            exit;
        }}
    }}
    xlog("L_INFO", "initial: $rm call $ci to $ru from $si:$sp\n");
    route(RELAY);
}}

route[RELAY] {{
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}

route[WITHINDLG] {{
    if (loose_route()) {{
        xlog("L_INFO", "loose_route: $rm call $ci to $ru from $si:$sp\n");
        route(RELAY);
    }}
    if (is_method("ACK")) {{
        if (t_check_trans()) {{
            route(RELAY);
        }}
        exit;
    }}
    sl_send_reply("404", "Not Here");
    exit;
}}

route[CREDENTIALS] {{
    $var(password) = {unknown_password};
    $var(aor_user) = "";
{credentials}
}}

route[REGISTRAR] {{
    if (!(uri == myself)) {{
        sl_send_reply("404", "Domain Not Served Here");
        exit;
    }}
{auth_register}
    save("location");  # replies itself: 200, 423, 4xx/5xx
    exit;
}}

route[AUTH] {{
{auth_proxy}
}}
"""
