"""SRTP throughput: sipperc next to libsrtp (pylibsrtp), measured in the same run.

Every figure is packets per second through two steps, on a 12-byte header with a 160-byte
payload (20 ms of G.711):

- single profiles: protect, then unprotect with a second session holding the same key, so
  sender and receiver state (index estimate, replay window) are exercised on both sides;
  compared with libsrtp doing the same with the same profile;
- double endpoint (RFC 8723): an endpoint's protect (inner and outer AES-GCM) and another
  endpoint's unprotect, compared with libsrtp's AEAD_AES_128_GCM (or _256_) round trip;
- double distributor: a Media Distributor's receive (cut the EKT field, outer-decrypt, read
  the OHB) and send to a recipient with a rewritten SEQ (OHB updated, outer-encrypt under the
  recipient's key), compared with the same libsrtp single-GCM round trip.

``--floor`` adds rows that make only the ``cryptography`` calls of those steps (fixed IV, no
SRTP logic): the most any Python code on top of ``cryptography`` could reach.

The machine may be shared, so the two implementations run in alternating slices of one batch
of packets each (about 10 ms), the one going first changing every slice; each pair of slices
gives a ratio, and the row shows the median ratio (with the middle half of the ratios, to show
the noise) and the median rates. Load from other processes that lasts longer than a slice then
hits both sides alike.

    .venv/bin/python benchmarks/srtp_bench.py [--seconds 2] [--floor] [--case NAME ...]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from hmac import compare_digest  # constant-time comparison only

import pylibsrtp
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sipperc.srtp import HopByHopSession, Profile, RelayedPacket, SrtpSession

PAYLOAD = 160
PACKETS = 4096
LIBSRTP = {
    Profile.AES_CM_128_HMAC_SHA1_80: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    Profile.AES_CM_128_HMAC_SHA1_32: pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
    Profile.AEAD_AES_128_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM,
    Profile.AEAD_AES_256_GCM: pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_256_GCM,
}
Steps = tuple[Callable[[bytes], object], Callable[[object], object], list[bytes]]
"""The first step, the second step (fed the first's result) and the packets of one slice."""


@dataclass(frozen=True)
class Case:
    """One row: how to build sipperc's two steps, which libsrtp profile to compare with."""

    name: str
    make: Callable[[int], Steps]
    reference: Profile
    target: float


def packets(start: int) -> list[bytes]:
    payload = os.urandom(PAYLOAD)
    return [bytes.fromhex("8000") + ((start + i) & 0xFFFF).to_bytes(2) + (160 * i).to_bytes(4)
            + bytes.fromhex("cafebabe") + payload for i in range(PACKETS)]


def keys(profile: Profile) -> tuple[bytes, bytes]:
    return os.urandom(profile.master_key_length), os.urandom(profile.master_salt_length)


def single(profile: Profile) -> Callable[[int], Steps]:
    key, salt = keys(profile)

    def make(start: int) -> Steps:
        sender = SrtpSession(profile, master_key=key, master_salt=salt)
        receiver = SrtpSession(profile, master_key=key, master_salt=salt)
        return sender.protect, receiver.unprotect, packets(start)  # type: ignore[return-value]
    return make


def libsrtp(profile: Profile) -> Callable[[int], Steps]:
    key, salt = keys(profile)

    def make(start: int) -> Steps:
        policy = pylibsrtp.Policy
        sender = pylibsrtp.Session(policy(key=key + salt, ssrc_type=policy.SSRC_ANY_OUTBOUND,
                                          srtp_profile=LIBSRTP[profile]))
        receiver = pylibsrtp.Session(policy(key=key + salt, ssrc_type=policy.SSRC_ANY_INBOUND,
                                            srtp_profile=LIBSRTP[profile]))
        return sender.protect, receiver.unprotect, packets(start)  # type: ignore[return-value]
    return make


def distributor(profile: Profile) -> Callable[[int], Steps]:
    key, salt = keys(profile)
    half_key, half_salt = len(key) // 2, len(salt) // 2

    def make(start: int) -> Steps:
        sender = SrtpSession(profile, master_key=key, master_salt=salt)
        wire = [sender.protect(packet) + b"\x00" for packet in packets(start)]  # Short EKT
        from_sender = HopByHopSession(profile, master_key=key[half_key:],
                                      master_salt=salt[half_salt:])
        to_recipient = HopByHopSession(profile, master_key=os.urandom(half_key),
                                       master_salt=os.urandom(half_salt))
        sequence = itertools.count(start + 1000)
        send = to_recipient.send

        def forward(relayed: RelayedPacket) -> bytes:
            return send(relayed, sequence_number=next(sequence) & 0xFFFF)
        return from_sender.receive, forward, wire  # type: ignore[return-value]
    return make


def floor(profile: Profile, distributor: bool = False) -> Callable[[int], Steps]:
    """Only the ``cryptography`` calls each step needs, with their slicing and joining.

    No header parsing, stream lookup, index, replay window or OHB: a fixed IV and ROC. It is
    what no Python code on top of ``cryptography`` can beat, so it shows what bounds a row.
    With ``distributor``: one outer decryption and one outer encryption, as receive and send.
    """
    key = os.urandom(profile.master_key_length // (2 if distributor else 1))
    iv, tag = os.urandom(16), profile.parameters.srtp_auth_tag_length

    def make(start: int) -> Steps:
        if distributor:
            # The distributor's input is a double packet; any AEAD ciphertext of its size will do.
            sender = AESGCM(os.urandom(len(key)))
            batch = [p[:12] + sender.encrypt(iv[:12], p[12:] + bytes(17), p[:12]) + b"\x00"
                     for p in packets(start)]
            outer = AESGCM(key)

            def receive(packet: bytes) -> tuple[bytes, bytes]:
                return packet[:12], sender.decrypt(iv[:12], packet[12:-1], packet[:12])

            def send(opened: tuple[bytes, bytes]) -> bytes:
                return opened[0] + outer.encrypt(iv[:12], opened[1], opened[0]) + b"\x00"
            return receive, send, batch  # type: ignore[return-value]
        if profile.is_aead:
            aead = AESGCM(key)

            def seal(rtp: bytes) -> bytes:
                return rtp[:12] + aead.encrypt(iv[:12], rtp[12:], rtp[:12])

            def open_(srtp: bytes) -> bytes:
                return srtp[:12] + aead.decrypt(iv[:12], srtp[12:], srtp[:12])
            return seal, open_, packets(start)  # type: ignore[return-value]
        context = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
        mac = hmac.HMAC(os.urandom(20), hashes.SHA1())

        def protect(rtp: bytes) -> bytes:
            context.reset_nonce(iv)
            out = rtp[:12] + context.update(rtp[12:])
            digest = mac.copy()
            digest.update(out + bytes(4))
            return out + digest.finalize()[:tag]

        def unprotect(srtp: bytes) -> bytes:
            digest = mac.copy()
            digest.update(srtp[:-tag] + bytes(4))
            if not compare_digest(digest.finalize()[:tag], srtp[-tag:]):
                raise ValueError("tag")
            context.reset_nonce(iv)
            return srtp[:12] + context.update(srtp[12:-tag])
        return protect, unprotect, packets(start)  # type: ignore[return-value]
    return make


def slice_time(make: Callable[[int], Steps], start: int) -> float:
    """Seconds per packet through both steps, over one batch with fresh state and SEQs."""
    first, second, batch = make(start)
    begin = time.perf_counter()
    for packet in batch:
        second(first(packet))
    return (time.perf_counter() - begin) / len(batch)


def compare(ours: Callable[[int], Steps], theirs: Callable[[int], Steps],
            seconds: float) -> tuple[float, float, list[float]]:
    """(our rate, their rate) as medians over alternating slices, and the quartiles of the
    slices' ratios (see the module docstring)."""
    ratios, our_rates, their_rates = [], [], []
    spent, start = 0.0, 0
    slice_time(ours, start), slice_time(theirs, start)  # warm up
    for turn in itertools.count():
        start += PACKETS
        if turn % 2:
            their, our = slice_time(theirs, start), slice_time(ours, start)
        else:
            our, their = slice_time(ours, start), slice_time(theirs, start)
        ratios.append(their / our)
        our_rates.append(1 / our)
        their_rates.append(1 / their)
        spent += (our + their) * PACKETS
        if spent >= 2 * seconds:
            break
    return (statistics.median(our_rates), statistics.median(their_rates),
            statistics.quantiles(ratios, n=4))


FLOORS = [
    Case("AES_CM_128_HMAC_SHA1_80 floor", floor(Profile.AES_CM_128_HMAC_SHA1_80),
         Profile.AES_CM_128_HMAC_SHA1_80, 0.8),
    Case("AEAD_AES_128_GCM floor", floor(Profile.AEAD_AES_128_GCM), Profile.AEAD_AES_128_GCM,
         1.0),
    Case("DOUBLE_128 distributor floor",
         floor(Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM, distributor=True),
         Profile.AEAD_AES_128_GCM, 0.9),
]
"""Rows for ``--floor``: the bare cryptography calls (see :func:`floor`)."""
DOUBLE_128 = Profile.DOUBLE_AEAD_AES_128_GCM_AEAD_AES_128_GCM
DOUBLE_256 = Profile.DOUBLE_AEAD_AES_256_GCM_AEAD_AES_256_GCM
CASES = [
    Case("AES_CM_128_HMAC_SHA1_80", single(Profile.AES_CM_128_HMAC_SHA1_80),
         Profile.AES_CM_128_HMAC_SHA1_80, 0.8),
    Case("AES_CM_128_HMAC_SHA1_32", single(Profile.AES_CM_128_HMAC_SHA1_32),
         Profile.AES_CM_128_HMAC_SHA1_32, 0.8),
    Case("AEAD_AES_128_GCM", single(Profile.AEAD_AES_128_GCM), Profile.AEAD_AES_128_GCM, 1.0),
    Case("AEAD_AES_256_GCM", single(Profile.AEAD_AES_256_GCM), Profile.AEAD_AES_256_GCM, 1.0),
    Case("DOUBLE_128 endpoint", single(DOUBLE_128), Profile.AEAD_AES_128_GCM, 0.45),
    Case("DOUBLE_128 distributor", distributor(DOUBLE_128), Profile.AEAD_AES_128_GCM, 0.9),
    Case("DOUBLE_256 endpoint", single(DOUBLE_256), Profile.AEAD_AES_256_GCM, 0.45),
    Case("DOUBLE_256 distributor", distributor(DOUBLE_256), Profile.AEAD_AES_256_GCM, 0.9),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="time per implementation and row (in slices of one batch)")
    parser.add_argument("--case", action="append",
                        choices=[case.name for case in CASES + FLOORS],
                        help="only this row (repeatable)")
    parser.add_argument("--floor", action="store_true",
                        help="add rows for the bare cryptography calls: what bounds the others")
    args = parser.parse_args()
    rows = CASES + FLOORS if args.floor else CASES
    cases = [case for case in rows if not args.case or case.name in args.case]
    print(f"packets/s through two steps (see --help), {PAYLOAD}-byte payload, medians over "
          f"alternating slices of {PACKETS} packets, {args.seconds:g} s each side")
    print(f"{'case':<31}{'sipperc':>11}{'libsrtp':>11}  {'(libsrtp profile)':<25}"
          f"{'ratio':>6} {'(middle half)':<14}{'target':>6}")
    for case in cases:
        ours, theirs, (low, ratio, high) = compare(case.make, libsrtp(case.reference),
                                                   args.seconds)
        verdict = "ok" if ratio >= case.target else "MISSED"
        print(f"{case.name:<31}{ours:>11,.0f}{theirs:>11,.0f}  {case.reference.name:<25}"
              f"{ratio:>5.2f}x ({low:.2f}-{high:.2f}x)  {case.target:.2f}x {verdict}", flush=True)


if __name__ == "__main__":
    main()
