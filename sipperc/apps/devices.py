"""List the sound cards sipperc can use, with the index and name to pass as a device.

Any of the names (or a unique part of one) or the index can be given where a device is asked
for. With no sound card the list is empty: use --play FILE and --record FILE instead.
"""

from __future__ import annotations

import argparse

from sipperc.cli import ExitCode
from sipperc.media.sound_device import NO_DEVICE_HINT, list_devices


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options: the listing is all there is."""


def run(args: argparse.Namespace) -> int:
    """Print one line per PortAudio device."""
    devices = list_devices()
    if not devices:
        print(f"no sound cards found; {NO_DEVICE_HINT}")
        return ExitCode.OK
    print(f"{'index':>5}  {'in':>3} {'out':>3}  {'rate':>6}  name (host API)")
    for device in devices:
        print(f"{device.index:>5}  {device.input_channels:>3} {device.output_channels:>3}  "
              f"{device.default_sample_rate:>6}  {device.name} ({device.host_api})")
    return ExitCode.OK
