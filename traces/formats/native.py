"""The native format of DESIGN.md: one object with ``external_id`` and a list of ``steps``."""

from typing import Any

from traces.schema import TraceDoc, convert_native


class NativeFormat:
    name = "native"

    def detect(self, document: Any) -> bool:
        return isinstance(document, dict) and isinstance(document.get("steps"), list)

    def convert(self, document: Any) -> list[TraceDoc]:
        return [convert_native(document)]


FORMAT = NativeFormat()
