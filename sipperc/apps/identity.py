"""Create a DTLS identity (ECDSA P-256 key and self-signed certificate) or show a fingerprint.

A Key Distributor or a long-lived endpoint keeps one identity so that its SDP fingerprint
(RFC 8122 ``a=fingerprint``) stays the same across restarts:

    sipperc identity --create --cert kd.crt --key kd.key --name "Key Distributor"
    sipperc identity --cert kd.crt            # print its fingerprint again

The key file is written readable by its owner only.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sipperc.cli import ExitCode
from sipperc.dtls import Fingerprint, Identity


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: where the certificate and key live, and what a new certificate says."""
    parser.add_argument("--cert", type=Path, required=True, help="certificate file (PEM)")
    parser.add_argument("--key", type=Path, help="private key file (PEM), needed with --create")
    parser.add_argument("--create", action="store_true",
                        help="generate a new key and certificate (refuses to overwrite)")
    parser.add_argument("--name", default="sipperc", help="certificate common name")
    parser.add_argument("--days", type=int, default=365, help="validity of a new certificate")
    parser.add_argument("--hash", default="sha-256",
                        choices=["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"],
                        help="fingerprint hash function (default: sha-256)")


def run(args: argparse.Namespace) -> int:
    """Create or read the certificate and print ``a=fingerprint:...``."""
    if args.create:
        if args.days < 1:
            print("sipperc identity: --days must be at least 1", file=sys.stderr)
            return ExitCode.USAGE
        if args.key is None:
            print("sipperc identity: --create needs --key FILE", file=sys.stderr)
            return ExitCode.USAGE
        for path in (args.cert, args.key):
            if path.exists():
                print(f"sipperc identity: {path} exists; not overwriting it", file=sys.stderr)
                return ExitCode.FAILURE
        identity = Identity.generate(common_name=args.name, valid_days=args.days)
        cert_pem, key_pem = identity.to_pem()
        args.cert.write_bytes(cert_pem)
        descriptor = os.open(args.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as key_file:
            key_file.write(key_pem)
        der = identity.certificate_der
    else:
        try:
            certificate = x509.load_pem_x509_certificate(args.cert.read_bytes())
        except (OSError, ValueError) as error:
            print(f"sipperc identity: cannot read a PEM certificate from {args.cert}: {error}",
                  file=sys.stderr)
            return ExitCode.DATA
        der = certificate.public_bytes(Encoding.DER)
    print(f"a=fingerprint:{Fingerprint.of(der, args.hash)}")
    return ExitCode.OK
