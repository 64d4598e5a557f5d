"""A detector kind for tests of the engine's shell: flags every occurrence of a word."""

import time

import msgspec

from detection.engine import KINDS, DetectorKind, Hit, ScanTrace


class KeywordParams(msgspec.Struct, forbid_unknown_fields=True):
    word: str = "cheat"
    score: float = 0.9
    fail: bool = False
    sleep: float = 0.0  # seconds per scan, to catch a worker in the middle of one


class KeywordKind(DetectorKind):
    name = "test_keyword"
    label = "Keyword (tests)"
    Params = KeywordParams

    def scan(self, trace: ScanTrace) -> list[Hit]:
        time.sleep(self.params.sleep)
        if self.params.fail:
            raise RuntimeError("the monitor answered garbage")
        hits = []
        for step in self.steps(trace):
            at = step.content.find(self.params.word)
            while at != -1:
                end = at + len(self.params.word)
                rationale = f"says {step.content[at:end]}"
                hits.append(
                    Hit(
                        step.index,
                        at,
                        end,
                        self.params.score,
                        "",
                        rationale,
                        f"word:{self.params.word}",
                    )
                )
                at = step.content.find(self.params.word, end)
        return hits


def install() -> None:
    KINDS[KeywordKind.name] = KeywordKind


def uninstall() -> None:
    KINDS.pop(KeywordKind.name, None)
