"""Suite-wide fixtures.

Twisted trial's ``TestCase.mktemp`` makes its directories under the current directory (the
checkout) and never removes them; under pytest they go in pytest's own temporary tree instead,
which pytest prunes (the last three runs are kept for a look after a failure).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from twisted.trial.unittest import TestCase


@pytest.fixture(autouse=True)
def _trial_mktemp_under_pytest(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Point ``mktemp`` at a fresh name under this test's ``tmp_path`` (same contract: the
    parent exists, the path itself does not)."""
    names = itertools.count()
    monkeypatch.setattr(TestCase, "mktemp",
                        lambda self: str(tmp_path / f"mktemp-{next(names)}"))
