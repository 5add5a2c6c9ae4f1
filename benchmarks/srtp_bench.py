"""SRTP protect+unprotect round trips per second: sipperc next to libsrtp (pylibsrtp).

Each round trip protects one RTP packet (12-byte header, 160-byte payload: 20 ms of G.711)
and unprotects it with a second session holding the same key, so sender and receiver state
(index estimate, replay window) are exercised on both sides. Both implementations get the
same pre-built packets (SEQ advancing through a wrap). The runs alternate between the two
implementations and the best of ``--rounds`` is kept, which filters out other load on the
machine.

    .venv/bin/python benchmarks/srtp_bench.py [--seconds 1.0] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import pylibsrtp

from sipperc.srtp import Profile, SrtpSession

PAYLOAD = 160
PACKETS = 4096
LIBSRTP = {
    Profile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    Profile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
TARGETS = {Profile.AES_CM_128_HMAC_SHA1_80: 0.8, Profile.AES_CM_128_HMAC_SHA1_32: 0.8,
           Profile.AEAD_AES_128_GCM: 1.0, Profile.AEAD_AES_256_GCM: 1.0}


def packets(start: int) -> list[bytes]:
    payload = os.urandom(PAYLOAD)
    return [bytes.fromhex("8000") + ((start + i) & 0xFFFF).to_bytes(2) + (160 * i).to_bytes(4)
            + bytes.fromhex("cafebabe") + payload for i in range(PACKETS)]


def rate(make: Callable[[], tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]],
         seconds: float) -> float:
    """Round trips per second over fresh sessions and a fresh run of SEQs each batch."""
    done, elapsed, start = 0, 0.0, 0
    while elapsed < seconds:
        protect, unprotect = make()
        batch = packets(start)
        start += PACKETS
        begin = time.perf_counter()
        for packet in batch:
            unprotect(protect(packet))
        elapsed += time.perf_counter() - begin
        done += len(batch)
    return done / elapsed


def sipperc_pair(profile: Profile) -> Callable[[], tuple[Callable[[bytes], bytes],
                                                         Callable[[bytes], bytes]]]:
    key, salt = os.urandom(profile.master_key_length), os.urandom(profile.master_salt_length)

    def make() -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        sender = SrtpSession(profile, master_key=key, master_salt=salt)
        receiver = SrtpSession(profile, master_key=key, master_salt=salt)
        return sender.protect, receiver.unprotect
    return make


def libsrtp_pair(profile: Profile) -> Callable[[], tuple[Callable[[bytes], bytes],
                                                         Callable[[bytes], bytes]]]:
    key = os.urandom(profile.master_key_length + profile.master_salt_length)

    def make() -> tuple[Callable[[bytes], bytes], Callable[[bytes], bytes]]:
        policy = pylibsrtp.Policy
        sender = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_OUTBOUND,
                                          srtp_profile=LIBSRTP[profile]))
        receiver = pylibsrtp.Session(policy(key=key, ssrc_type=policy.SSRC_ANY_INBOUND,
                                            srtp_profile=LIBSRTP[profile]))
        return sender.protect, receiver.unprotect
    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per run")
    parser.add_argument("--rounds", type=int, default=5, help="runs per implementation")
    parser.add_argument("--profile", action="append", choices=[p.name for p in LIBSRTP],
                        help="only this profile (repeatable)")
    args = parser.parse_args()
    profiles = [Profile[name] for name in args.profile] if args.profile else list(LIBSRTP)
    print(f"protect+unprotect round trips/s, {PAYLOAD}-byte payload, best of {args.rounds} "
          f"runs of {args.seconds:g} s")
    print(f"{'profile':<28}{'sipperc':>12}{'libsrtp':>12}{'ratio':>8}{'target':>8}")
    for profile in profiles:
        ours, theirs = 0.0, 0.0
        for _ in range(args.rounds):
            ours = max(ours, rate(sipperc_pair(profile), args.seconds))
            theirs = max(theirs, rate(libsrtp_pair(profile), args.seconds))
        ratio = ours / theirs
        verdict = "ok" if ratio >= TARGETS[profile] else "MISSED"
        print(f"{profile.name:<28}{ours:>12,.0f}{theirs:>12,.0f}{ratio:>7.2f}x"
              f"{TARGETS[profile]:>6.2f}x {verdict}")


if __name__ == "__main__":
    main()
