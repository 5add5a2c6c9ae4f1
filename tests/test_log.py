import io
import json

from twisted.logger import FilteringLogObserver, Logger, LogLevel, LogPublisher
from twisted.python import log as legacy
from twisted.python.failure import Failure

from sipperc.log import LevelFilter, LineObserver


def _emit(fmt: str, **fields):
    stream = io.StringIO()
    publisher = LogPublisher(LineObserver(stream, fmt))
    publisher({"log_format": "call answered {call_id}", "log_level": LogLevel.info,
               "log_namespace": "sip", "log_time": 0.5, **fields})
    return stream.getvalue()


def test_text_line_carries_structured_fields():
    line = _emit("text", call_id="abc@host", ssrc=1234)
    assert line == ("1970-01-01T00:00:00.500Z info  sip: call answered abc@host "
                    "call_id=abc@host ssrc=1234\n")


def test_json_line_is_one_object():
    record = json.loads(_emit("json", call_id="abc@host"))
    assert record == {"time": 0.5, "level": "info", "namespace": "sip",
                      "message": "call answered abc@host", "call_id": "abc@host"}


def test_bytes_never_reach_the_log():
    secret = bytes(range(16))
    for fmt in ("text", "json"):
        out = _emit(fmt, call_id="x", master_key=secret)
        assert "<16 bytes>" in out
        assert secret.hex() not in out and "\\x01" not in out


def _through_twisted(level: str, emit) -> str:
    """What the filtered observer prints for events Twisted's own APIs publish."""
    stream = io.StringIO()
    publisher = LogPublisher(FilteringLogObserver(LineObserver(stream, "text"),
                                                  [LevelFilter(LogLevel.levelWithName(level))]))
    old = legacy.LogPublisher(publisher, publisher)
    emit(old, Logger(namespace="sipperc.test", observer=publisher))
    return stream.getvalue()


def _lifecycle_and_news(old, new):
    old.msg("Starting protocol <twisted.names.dns.DNSDatagramProtocol object at 0x7f30>")
    old.msg("(UDP Port 22109 Closed)")
    new.info("call answered", call_id="abc")
    try:
        1 / 0  # noqa: B018
    except ZeroDivisionError:
        # What twisted.python.log.err does with the failure.
        old.msg(failure=Failure(), why="Unhandled error in a protocol", isError=1)


def test_twisted_lifecycle_chatter_is_debug_and_errors_stay():
    shown = _through_twisted("info", _lifecycle_and_news)
    assert "Starting protocol" not in shown and "UDP Port" not in shown
    assert "info  sipperc.test: call answered call_id=abc" in shown
    assert "critical log_legacy: Unhandled error in a protocol" in shown
    assert "ZeroDivisionError" in shown
    debug = _through_twisted("debug", _lifecycle_and_news)
    (line,) = [line for line in debug.splitlines() if "UDP Port" in line]
    # At debug it shows, as debug, without the legacy API's bookkeeping fields.
    assert line.endswith("debug log_legacy: (UDP Port 22109 Closed)")
