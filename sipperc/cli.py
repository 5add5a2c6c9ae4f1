"""The ``sipperc`` command: one entry point, a sub-command per tool or server.

Each sub-command lives in its own module under ``sipperc.apps`` and is imported only when it
runs, so ``sipperc --help`` stays fast and a missing optional dependency of one tool never
breaks another. Exit codes follow ``sysexits.h`` so scripts can tell failures apart.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sipperc import __version__
from sipperc.config import ConfigError
from sipperc.log import FORMATS, LEVELS, start_logging
from sipperc.media.audio_port import AudioDeviceUnavailable, AudioFileError


class ExitCode(enum.IntEnum):
    """What a ``sipperc`` exit status means (values from ``sysexits.h``)."""

    OK = 0
    FAILURE = 1  # the operation ran and failed (call rejected, peer unreachable...)
    USAGE = 2  # bad command line (argparse's own code)
    DATA = 65  # bad input data (malformed file or message)
    UNAVAILABLE = 69  # a needed service or device is not there (no sound card, no peer)
    SOFTWARE = 70  # a bug in sipperc: please report it
    CONFIG = 78  # bad configuration file


@dataclass(frozen=True, slots=True)
class Command:
    """A sub-command: its name, one-line help, and the module that implements it.

    The module provides ``add_arguments(parser)`` and ``run(args) -> int``.
    """

    name: str
    summary: str
    module: str


COMMANDS: tuple[Command, ...] = (
    Command("devices", "list the sound cards (microphones and speakers) sipperc can use",
            "sipperc.apps.devices"),
    Command("identity", "create a DTLS certificate and key, or print a certificate's SDP "
            "fingerprint", "sipperc.apps.identity"),
    Command("keyserver", "run a PERC Key Distributor (the only server holding media keys)",
            "sipperc.apps.keyserver"),
    Command("distributor", "run a PERC Media Distributor (forwards media it cannot decrypt)",
            "sipperc.apps.distributor"),
    Command("responder", "answer SIP calls for interop tests (or refuse them; echo media)",
            "sipperc.apps.responder"),
    Command("call", "place one SIP call and report how it went (the responder's twin)",
            "sipperc.apps.call"),
    Command("focus", "run the SIP focus of PERC conferences (sip:room@host; never holds keys)",
            "sipperc.apps.focus"),
    Command("demo", "run a whole PERC conference on this machine and check it (from a "
            "checkout)", "sipperc.apps.demo"),
)

EPILOG = """\
exit status:
  0   success
  1   the operation failed (call rejected, peer unreachable, test failed)
  2   bad command line
  65  bad input data
  69  a needed service or device is missing (e.g. no sound card: use --play/--record FILE)
  70  internal error (a bug: please report it)
  78  bad configuration file (the message names the file, line and setting)

Run 'sipperc COMMAND --help' for the options of each command.
"""


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """The full argument parser; sub-command modules are imported to add their options."""
    parser = argparse.ArgumentParser(
        prog="sipperc",
        description=("SIP conferencing with end-to-end private media (PERC, RFC 8871): "
                     "softphone, B2BUA, Media Distributor and Key Distributor."),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"sipperc {__version__}")
    parser.add_argument("--log-level", choices=LEVELS, default="info",
                        help="least severe log events to show (default: info)")
    parser.add_argument("--log-format", choices=FORMATS, default="text",
                        help="text lines for people, or one JSON object per line (default: text)")
    if commands:
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
        for command in commands:
            module = importlib.import_module(command.module)
            child = sub.add_parser(command.name, help=command.summary,
                                   description=module.__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
            module.add_arguments(child)
            child.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sipperc``; returns the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help()
        return ExitCode.OK
    start_logging(args.log_level, args.log_format)
    try:
        return run(args)
    except ConfigError as exc:
        print(f"sipperc: {exc}", file=sys.stderr)
        return ExitCode.CONFIG
    except AudioDeviceUnavailable as exc:  # no sound card: the message suggests --play/--record
        print(f"sipperc: {exc}", file=sys.stderr)
        return ExitCode.UNAVAILABLE
    except AudioFileError as exc:
        print(f"sipperc: {exc}", file=sys.stderr)
        return ExitCode.DATA
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
