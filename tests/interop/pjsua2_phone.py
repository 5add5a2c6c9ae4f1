"""A legacy SIP phone (PJSIP 2.15 through the ``pjsua2-python`` wheel), run as a child process.

``python tests/interop/pjsua2_phone.py CONFIG_JSON`` starts one pjsua2 endpoint on 127.0.0.1
with a null audio device and talks to its parent in JSON lines: commands on stdin, events on
stdout (pjsua2's own log goes to stderr). :mod:`tests.interop.pjsua2_peer` is the parent side.

Config keys: ``transports`` (list of ``udp``/``tcp``/``tls``), ``tls`` (``cert``, ``key``,
``ca`` file names: our certificate for the TLS listener, the CA we verify peers against),
``auto_answer`` (answer incoming calls with 200), ``codecs`` (the codec ids to enable, in
order of preference; every other one is disabled), ``play`` (a WAV file sent into each call,
looped), ``record`` (a WAV file receiving what the call carries), ``srtp`` (``off``,
``optional`` or ``mandatory``: SDES only, pjsua2 signalling security not required),
``register`` (``aor``, ``registrar``, ``proxy`` URIs, ``realm``, ``username``,
``password``: the phone registers its AOR and sends every request through the proxy).

Commands: ``{"cmd": "call", "uri": ...}``, ``{"cmd": "stats"}``, ``{"cmd": "hangup"}``,
``{"cmd": "quit"}``.
Events: ``ready`` (``ports``: transport -> port), ``registration`` (``code``, ``expires``),
``incoming`` (``remote``), ``state``
(``state``: CALLING/EARLY/CONNECTING/CONFIRMED/DISCONNECTED, ``code``, ``reason``, ``role``),
``media`` (``active``, ``srtp``: whether the SDP exchange settled on SRTP), ``stats``
(``dump``: pjsua2's text dump of the call with its RTP/RTCP figures), ``error``.

Headless rules (docs of pjsua2 and /work/shared/specs/peers.md): one thread (``threadCnt=0``,
``mainThreadOnly``, ``libHandleEvents`` in our loop), ``setNullDev`` for audio, and
``os._exit`` at the end because destroying ``Call`` objects after ``libDestroy`` aborts.
"""

from __future__ import annotations

import gc
import json
import os
import select
import sys
from typing import Any

import pjsua2 as pj

PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)  # pjsua2 (C) logs to stdout: send that to stderr, keep stdout for events

CALL_STATES = {
    pj.PJSIP_INV_STATE_CALLING: "CALLING",
    pj.PJSIP_INV_STATE_INCOMING: "INCOMING",
    pj.PJSIP_INV_STATE_EARLY: "EARLY",
    pj.PJSIP_INV_STATE_CONNECTING: "CONNECTING",
    pj.PJSIP_INV_STATE_CONFIRMED: "CONFIRMED",
    pj.PJSIP_INV_STATE_DISCONNECTED: "DISCONNECTED",
}
TRANSPORTS = {
    "udp": pj.PJSIP_TRANSPORT_UDP,
    "tcp": pj.PJSIP_TRANSPORT_TCP,
    "tls": pj.PJSIP_TRANSPORT_TLS,
}
SRTP_USE = {
    "off": pj.PJMEDIA_SRTP_DISABLED,
    "optional": pj.PJMEDIA_SRTP_OPTIONAL,
    "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
}


def emit(event: str, **fields: Any) -> None:
    PROTOCOL.write(json.dumps({"event": event, **fields}) + "\n")


class Phone:
    """The endpoint, its one account and the current call."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.ep = pj.Endpoint()
        self.ep.libCreate()
        ep_config = pj.EpConfig()
        ep_config.uaConfig.threadCnt = 0
        ep_config.uaConfig.mainThreadOnly = True
        ep_config.uaConfig.userAgent = "pjsua2-interop"
        ep_config.logConfig.level = int(config.get("log_level", 3))
        ep_config.logConfig.consoleLevel = int(config.get("log_level", 3))
        media = ep_config.medConfig
        media.clockRate = 8000  # the G.711 rate: no resampling between the WAVs and the call
        media.sndClockRate = 8000
        media.ecTailLen = 0  # no echo canceller: what we record is what arrived
        media.noVad = True
        self.ep.libInit(ep_config)
        self.ep.audDevManager().setNullDev()
        self.ports: dict[str, int] = {}
        for name in config.get("transports", ["udp"]):
            transport = pj.TransportConfig()
            transport.boundAddress = "127.0.0.1"
            transport.port = 0
            if name == "tls":
                tls = config["tls"]
                transport.tlsConfig.certFile = tls["cert"]
                transport.tlsConfig.privKeyFile = tls["key"]
                transport.tlsConfig.CaListFile = tls["ca"]
                transport.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
                transport.tlsConfig.verifyServer = True
            tid = self.ep.transportCreate(TRANSPORTS[name], transport)
            self.ports[name] = int(self.ep.transportGetInfo(tid).localName.rsplit(":", 1)[1])
        self.ep.libStart()
        wanted = config.get("codecs")
        if wanted:
            for codec in self.ep.codecEnum2():
                self.ep.codecSetPriority(codec.codecId, 0)
            for rank, codec_id in enumerate(wanted):
                self.ep.codecSetPriority(codec_id, 255 - rank)
        account_config = pj.AccountConfig()
        first = next(iter(self.ports))
        account_config.idUri = f"sip:pjsua@127.0.0.1:{self.ports[first]}"
        registration = config.get("register")
        if registration:
            # A subscriber of a registrar/proxy: AOR, REGISTER to the registrar, every
            # request through the proxy (pre-loaded Route), digest credentials for its realm.
            account_config.idUri = registration["aor"]
            account_config.regConfig.registrarUri = registration["registrar"]
            account_config.sipConfig.proxies.append(registration["proxy"])
            credentials = pj.AuthCredInfo("digest", registration["realm"],
                                          registration["username"], 0,
                                          registration["password"])
            account_config.sipConfig.authCreds.append(credentials)
        account_config.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
        # RTP on a random port: the default 4000 is shared by every pjsua2 in parallel tests
        account_config.mediaConfig.transportConfig.randomizePort = True
        account_config.mediaConfig.srtpUse = SRTP_USE[config.get("srtp", "off")]
        account_config.mediaConfig.srtpSecureSignaling = 0
        self.account = Account(self)
        self.account.create(account_config)
        self.call: Call | None = None
        self.calls: list[Call] = []  # every Call object stays referenced until os._exit
        self.player: pj.AudioMediaPlayer | None = None
        self.recorder: pj.AudioMediaRecorder | None = None

    def run(self) -> None:
        emit("ready", ports=self.ports)
        buffer = b""
        while True:
            self.ep.libHandleEvents(10)
            readable, _, _ = select.select([sys.stdin], [], [], 0)
            if not readable:
                continue
            chunk = os.read(sys.stdin.fileno(), 4096)
            if not chunk:
                return  # the parent went away
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if not self.command(json.loads(line)):
                    return

    def command(self, command: dict[str, Any]) -> bool:
        name = command["cmd"]
        try:
            if name == "call":
                call = Call(self, self.account)
                self.calls.append(call)
                self.call = call
                call.makeCall(command["uri"], pj.CallOpParam(True))
            elif name == "stats" and self.call is not None:
                # Call.dump, not getStreamStat: the latter copies the peer's RTCP SDES into
                # std::string before any came and, with uninitialised memory, threw
                # std::bad_alloc (the process aborted) in a few runs out of ten.
                emit("stats", dump=self.call.dump(True, ""))
            elif name == "hangup" and self.call is not None:
                self.call.hangup(pj.CallOpParam(True))
            elif name == "quit":
                return False
        except pj.Error as error:
            emit("error", command=name, reason=error.info())
        return True

    def connect_audio(self, call: Call) -> None:
        """Play the configured WAV into the call; record what it carries."""
        info = call.getInfo()
        for media in info.media:
            if media.type != pj.PJMEDIA_TYPE_AUDIO or media.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            audio = call.getAudioMedia(media.index)
            if self.config.get("play") and self.player is None:
                self.player = pj.AudioMediaPlayer()
                self.player.createPlayer(self.config["play"], 0)  # 0: loop
                self.player.startTransmit(audio)
            if self.config.get("record") and self.recorder is None:
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(self.config["record"])
                audio.startTransmit(self.recorder)
            # (getMedTransportInfo() is not read: its source address is garbage until a
            # packet came, and reading it could throw std::bad_alloc from C++.)
            emit("media", active=True, srtp=_srtp_active(call, media.index))


def _srtp_active(call: Call, index: int) -> bool:
    """Whether the call's SDP put this stream on SRTP (RTP/SAVP in the active remote SDP)."""
    try:
        stream = call.getStreamInfo(index)
    except pj.Error:
        return False
    return bool(stream.proto == pj.PJMEDIA_TP_PROTO_RTP_SAVP)


class Account(pj.Account):
    def __init__(self, phone: Phone) -> None:
        super().__init__()
        self.phone = phone

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        emit("registration", code=prm.code, expires=prm.expiration)

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        call = Call(self.phone, self, prm.callId)
        self.phone.calls.append(call)
        self.phone.call = call
        emit("incoming", remote=call.getInfo().remoteUri)
        answer = pj.CallOpParam()
        answer.statusCode = 200 if self.phone.config.get("auto_answer", True) else 180
        call.answer(answer)


class Call(pj.Call):
    def __init__(self, phone: Phone, account: Account, call_id: int = pj.PJSUA_INVALID_ID
                 ) -> None:
        super().__init__(account, call_id)
        self.phone = phone

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        emit("state", state=CALL_STATES.get(info.state, str(info.state)),
             code=info.lastStatusCode, reason=info.lastReason,
             role="caller" if info.role == pj.PJSIP_ROLE_UAC else "callee")

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.phone.connect_audio(self)


def main() -> None:
    config = json.loads(sys.argv[1])
    try:
        phone = Phone(config)
    except pj.Error as error:
        emit("error", command="start", reason=error.info())
        os._exit(2)
    phone.run()
    if phone.recorder is not None:
        # Destroying the recorder writes the WAV header's sizes. The SWIG object goes with a
        # collection, and PJSIP 2.15's conference bridge removes (and destroys) ports
        # asynchronously, in its clock thread: wait until the header is written.
        phone.recorder = None
        gc.collect()
        for _ in range(100):
            phone.ep.libHandleEvents(10)
            if _wav_finished(phone.config["record"]):
                break
    os._exit(0)


def _wav_finished(path: str) -> bool:
    with open(path, "rb") as wav:
        return wav.read(8)[4:8] != bytes(4)  # the RIFF size is written on close


if __name__ == "__main__":
    main()
