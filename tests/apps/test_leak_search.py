"""The key search: every form a secret can take, in a log and in a live process's memory.

The proof test (tests/interop/test_perc_conference.py) runs the search against a real Media
Distributor after a conference, with a deliberately leaking one as the control; here each
function is checked on material where the answer is known.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys

from sipperc.apps.leak_search import (
    MultiNeedleSearch,
    conference_secrets,
    readable_writable_regions,
    search_memory,
    search_text,
    text_forms,
)
from sipperc.perc.participant import ParticipantKeys
from sipperc.srtp.key_derivation import SessionKeys


def test_the_secrets_of_a_conference_include_derived_session_keys():
    media, salt = os.urandom(16), os.urandom(12)
    keys = ParticipantKeys((media,), (os.urandom(16),), (salt,), (os.urandom(16),))
    found = conference_secrets([("alice", keys)])
    assert set(found) == {"alice EKT key 0", "alice shared salt 0", "alice DTLS inner half 0",
                          "alice media key 0", "alice media key 0 session key (salt 0)"}
    derived = SessionKeys.derive(media, salt, rtcp=False, authentication_key_length=0)
    assert found["alice media key 0 session key (salt 0)"] == derived.encryption_key


def test_a_secret_is_found_in_a_log_in_any_printable_form(tmp_path):
    secret = bytes(range(200, 216))
    assert len(text_forms(secret)) == 5
    for form in [secret, secret.hex().encode(), secret.hex().upper().encode(),
                 base64.b64encode(secret), base64.urlsafe_b64encode(secret),
                 repr(secret).encode()]:
        log = tmp_path / "log"
        log.write_bytes(b"2026 info key=" + form + b" done\n")
        assert set(search_text(log, {"k": secret, "other": os.urandom(16)})) == {"k"}
    log.write_bytes(b"key=<16 bytes>\n")
    assert search_text(log, {"k": secret}) == {}


def test_a_secret_is_found_in_the_memory_of_the_process_holding_it():
    held, never_sent = os.urandom(16), os.urandom(16)
    # The child builds the secret from its hex form, so the raw bytes exist only in its heap.
    child = subprocess.Popen([sys.executable, "-c",
                              "import sys; k = bytes.fromhex(sys.stdin.readline()); "
                              "print('ready', flush=True); sys.stdin.read()"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        child.stdin.write(held.hex() + "\n")
        child.stdin.flush()
        assert child.stdout.readline() == "ready\n"
        assert readable_writable_regions(child.pid)
        found, searched = search_memory(child.pid, {"held": held, "never sent": never_sent})
        assert set(found) == {"held"} and searched > 1_000_000
    finally:
        child.stdin.close()
        child.wait(10)


class SmallChunks(MultiNeedleSearch):
    CHUNK = 64


def test_every_needle_is_found_at_every_offset_and_across_chunks():
    needles = {f"key {i}": os.urandom(16) for i in range(50)}
    needles["salt"] = os.urandom(12)
    search = SmallChunks(needles)
    for offset in range(0, 140):
        data = os.urandom(offset) + needles["key 7"] + os.urandom(offset % 5)
        assert search.find(data) == {"key 7": offset}
    needles["short"] = b"\x01\x02"  # shorter than the prefix: searched directly
    search = SmallChunks(needles)
    data = bytes(1000) + needles["salt"] + b"\x01\x02" + needles["key 3"]
    assert search.find(data) == {"salt": 1000, "short": 1012, "key 3": 1014}
    assert search.find(data, exclude=["salt"]) == {"short": 1012, "key 3": 1014}
    assert search.find(needles["key 1"][:15]) == {}
    assert MultiNeedleSearch({}).find(b"anything") == {}
