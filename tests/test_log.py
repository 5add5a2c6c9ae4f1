import io
import json

from twisted.logger import LogLevel, LogPublisher

from sipperc.log import LineObserver


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
