"""Code analysis speed: ``detection.code_analysis.analyse`` on a 5,000-line Python module.

    python bench/code_analysis.py              # the 5,000-line module, fastest of 5 runs
    python bench/code_analysis.py --lines 20000 --repeat 3
    python bench/code_analysis.py --path tests/test_module.py   # read as a test file

The module is built from the standard library's own modules (real, general-purpose code,
with the usual ``if``s, dicts, exits and frame tricks), joined whole in name order until it
reaches the line count and cut there, with a hack planted after every eighth module so the
rules have something to find. The figure is the process CPU time of the fastest of
``--repeat`` runs (other load on the machine only slows the slower ones), with how many lines
the analysis handed to ``ast`` and the hits found.
"""

import argparse
import sys
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from detection import code_analysis  # noqa: E402

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


def module(lines: int) -> str:
    """Whole standard-library modules, in name order, a hack planted now and then, up to
    ``lines``."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts: list[str] = []
    count = 0
    for i, path in enumerate(sorted(stdlib.glob("*.py"))):
        text = path.read_text(encoding="utf-8", errors="replace")
        planted = PLANTED[i // 8 % len(PLANTED)] if i % 8 == 0 else ""
        parts.append(text + "\n\n" + planted + "\n\n")
        count += parts[-1].count("\n")
        if count >= lines:
            break
    return "\n".join("".join(parts).splitlines()[:lines]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--path", default="src/module.py", help="the path the code is written to")
    args = parser.parse_args()
    code = module(args.lines)
    best = float("inf")
    hits: list[code_analysis.CodeHit] = []
    for _ in range(args.repeat):
        started = time.process_time()
        hits = code_analysis.analyse(code, path=args.path)
        best = min(best, time.process_time() - started)
    blocks, broken = code_analysis._blocks(code, bool(code_analysis._TEST_PATH.search(args.path)))
    parsed = sum(code.count("\n", b.start, b.end) for b in blocks)
    print(
        f"analyse: {code.count(chr(10))} lines, {len(code) / 1e3:.0f} kB: {best * 1e3:.1f} ms "
        f"(fastest of {args.repeat}); {parsed} lines parsed in {len(blocks)} blocks, "
        f"{len(broken)} read as text; {len(hits)} hits"
    )
    for rule in code_analysis.RULES:
        found = sum(h.rule == rule for h in hits)
        if found:
            print(f"  {rule}: {found}")


if __name__ == "__main__":
    main()
