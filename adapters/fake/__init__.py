"""Fake platforms for tests and ``simulate``: in memory (``FakeAdapter``) and over HTTP in
another process's reach (``FakePlatformServer`` + ``HttpFakeAdapter``, for crash tests)."""

from adapters.fake.adapter import Delivery, FakeAdapter, Refusal
from adapters.fake.platform import FakePlatformServer, HttpFakeAdapter

__all__ = ["Delivery", "FakeAdapter", "FakePlatformServer", "HttpFakeAdapter", "Refusal"]
