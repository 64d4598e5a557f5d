"""Reading the fixtures, and traces as the plain data the tests compare."""

from pathlib import Path
from typing import Any

import msgspec

from traces.formats import read_document
from traces.schema import TraceDoc

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parsed(name: str) -> Any:
    return msgspec.json.decode(fixture(name))


def plain(docs: list[TraceDoc]) -> list[dict[str, Any]]:
    return msgspec.to_builtins(docs)


def read(raw: bytes, format: str | None = None) -> list[dict[str, Any]]:
    return plain(read_document(raw, format=format))


def encode(document: Any) -> bytes:
    return msgspec.json.encode(document)
