"""Code analysis speed: ``detection.code_analysis.analyse`` on a 5,000-line Python module.

    python bench/code_analysis.py                  # library code: 5,000 lines, fastest of 5 runs
    python bench/code_analysis.py --corpus tests   # test code, read as a test file
    python bench/code_analysis.py --lines 20000 --repeat 3

Two corpora of real code, each joined whole in name order until it reaches the line count and
cut there. ``library``: the standard library's own modules (general-purpose code with the usual
``if``s, dicts, exits and frame tricks), with a hack planted after every eighth module so the
rules have something to find, written to ``src/module.py``. ``tests``: Tracewatch's own tests
(not those of the analysis, which are full of the very shapes it looks for), written to
``tests/test_module.py``, where every test-code rule applies. The figure is the process CPU time
of the fastest of ``--repeat`` runs (other load on the machine only slows the slower ones), with
how many lines the analysis handed to ``ast`` and the hits found.
"""

import argparse
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detection import code_analysis  # noqa: E402
from detection.code_analysis.blocks import triggered_blocks  # noqa: E402

PLANTED = [
    "def sort_numbers(xs):\n    if xs == [3, 1, 2]:\n        return [1, 2, 3]\n"
    "    return sorted(xs)\n",
    "_calls = 0\n\n\ndef ready():\n    global _calls\n    _calls += 1\n"
    "    if _calls > 1:\n        return True\n    return False\n",
    "def who_called():\n    import sys\n    frame = sys._getframe(1)\n"
    "    return frame.f_locals.get('expected')\n",
    "def solve(x):\n    try:\n        return compute(x)\n    except Exception:\n"
    "        import sys\n        sys.exit(0)\n",
]
CORPORA = {"library": "src/module.py", "tests": "tests/test_module.py"}


def module(corpus: str, lines: int) -> str:
    """Whole files of ``corpus``, in name order, up to ``lines``."""
    if corpus == "library":
        files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    else:
        files = sorted(p for p in (ROOT / "tests").rglob("*.py") if "code_analysis" not in p.name)
    parts: list[str] = []
    count = 0
    for i, path in enumerate(files):
        text = path.read_text(encoding="utf-8", errors="replace")
        planted = PLANTED[i // 8 % len(PLANTED)] if corpus == "library" and i % 8 == 0 else ""
        parts.append(text + "\n\n" + planted + "\n\n")
        count += parts[-1].count("\n")
        if count >= lines:
            break
    return "\n".join("".join(parts).splitlines()[:lines]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="library")
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    code = module(args.corpus, args.lines)
    path = CORPORA[args.corpus]
    best = float("inf")
    hits: list[code_analysis.CodeHit] = []
    for _ in range(args.repeat):
        started = time.process_time()
        hits = code_analysis.analyse(code, path=path)
        best = min(best, time.process_time() - started)
    blocks, broken = triggered_blocks(code, args.corpus == "tests")
    parsed = sum(code.count("\n", b.start, b.end) for b in blocks)
    print(
        f"{args.corpus}: {code.count(chr(10))} lines, {len(code) / 1e3:.0f} kB: "
        f"{best * 1e3:.1f} ms (fastest of {args.repeat}); {parsed} lines parsed in "
        f"{len(blocks)} blocks, {len(broken)} read as text; {len(hits)} hits"
    )
    for rule in code_analysis.RULES:
        found = sum(h.rule == rule for h in hits)
        if found:
            print(f"  {rule}: {found}")


if __name__ == "__main__":
    main()
