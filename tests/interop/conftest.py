"""Fixtures shared by the interop tests: real peers started per test."""

from tests.interop.kamailio import kamailio

__all__ = ["kamailio"]
