r"""Many regular expressions over one text: a literal prefilter picks the few that can match and
where, Python's ``re`` finds the exact matches.

A rule pack holds a hundred expressions and nearly every step matches none of them. From each
expression's parse tree we take sets of literals that every match must contain (for
``\b(?:hard[- ]?code|special[- ]?case)\s+the\s+tests`` that is {"hard-code", "hard code",
"hardcode", "special-case", ...}) and, when it has them, the literals every match starts with.
One Hyperscan pass over a step with all those literals (its literal matcher runs at GB/s)
tells which expressions may match and where their leading literals occur; ``re`` then tries
each such expression only at those positions (or, without leading literals, over the text), and
reports the matches with their character offsets. Without Hyperscan the same literals are looked
for with ``in`` and ``find`` on the text. Either way the prefilter only rules out expressions and
positions where no match can be, so the matches are exactly what ``compiled.finditer`` gives:
the same with or without Hyperscan, and the same as running every expression everywhere.

Expressions are compiled with ``re.ASCII``, so case folding and ``\w``, ``\s``, ``\b`` mean the
same to the prefilter as to ``re``.
"""

import re
import re._constants as sre
import re._parser as sre_parse
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

try:
    import hyperscan
except ImportError:  # not built for every platform; the pure-Python prefilter gives the same answer
    hyperscan = None

_EXACT_LIMIT = 64  # most strings tracked for a literal part of an expression
# Literals so common in agent traces that requiring them rules nothing out.
_COMMON = frozenset(
    """a an and are as at be but by can code could do does for from if in is it
    its make no not of on or run set so test tests that the then this to will with would
    value values file files line lines check checks change case cases""".split()  # noqa: SIM905
)


# Words in nearly every sentence: not worth trying an expression at each of them.
_EVERYWHERE = frozenset(
    """that this with from have been then than what when into also some here there their
    were your which""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class _Info:
    exact: frozenset[str] | None  # every string the part can match, when few and finite
    # Literal sets that every match needs: one literal of each set is in every match.
    required: tuple[frozenset[str], ...] = ()
    # The strings a match can start with, up to where the part stops being literal.
    leading: frozenset[str] | None = None


def _strength(literals: frozenset[str]) -> int:
    """How much finding one of ``literals`` narrows things down: the weakest one's length."""
    return min(
        1 if lit.strip().lower() in _COMMON else len(lit.strip()) + (not lit.isalnum())
        for lit in literals
    )


def _choose(factors: Sequence[frozenset[str]]) -> frozenset[str] | None:
    """The most selective of several required sets: its weakest literal is the longest."""
    usable = [f for f in factors if f and "" not in f]
    return max(usable, key=lambda f: (_strength(f), -len(f))) if usable else None


def _chars(av: list[tuple[object, object]]) -> set[str] | None:
    """The characters of a small, plain character class such as ``[- ]``; None otherwise."""
    chars: set[str] = set()
    for op, value in av:
        if op is sre.LITERAL:
            chars.add(chr(value))  # type: ignore[arg-type]
        elif op is sre.RANGE and value[1] - value[0] < 10:  # type: ignore[index,operator]
            chars.update(chr(c) for c in range(value[0], value[1] + 1))  # type: ignore[index]
        else:
            return None
    return chars


_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT))


def _analyse(items: Sequence[tuple[object, object]]) -> _Info:
    """What a sequence of parsed items can match: exactly (a few strings), or which literals
    every match contains."""
    factors: list[frozenset[str]] = []
    chain: set[str] = {""}
    exact_whole = True
    leading: frozenset[str] | None = None

    def flush() -> None:
        nonlocal chain, leading
        if leading is None:
            leading = frozenset(chain)
        if "" not in chain:
            factors.append(frozenset(chain))
        chain = {""}

    def extend(strings: frozenset[str] | set[str]) -> bool:
        nonlocal chain
        if len(chain) * len(strings) > _EXACT_LIMIT:
            return False
        chain = {a + b for a in chain for b in strings}
        return True

    def absorb(info: _Info) -> None:
        nonlocal exact_whole
        if info.exact is not None and extend(info.exact):
            return
        flush()
        exact_whole = False
        if info.exact is not None and "" not in info.exact:
            factors.append(info.exact)
        factors.extend(info.required)

    for op, av in items:
        if op is sre.LITERAL:
            extend({chr(av)})  # type: ignore[arg-type]
        elif op is sre.IN:
            chars = _chars(av)  # type: ignore[arg-type]
            if chars is None or not extend(chars):
                flush()
                exact_whole = False
        elif op in (sre.AT, sre.ASSERT, sre.ASSERT_NOT):
            continue  # zero width: neither adds nor breaks a literal
        elif op is sre.SUBPATTERN:
            absorb(_analyse(av[-1]))  # type: ignore[index]
        elif op is sre.ATOMIC_GROUP:
            absorb(_analyse(av))  # type: ignore[arg-type]
        elif op is sre.BRANCH:
            branches = [_analyse(b) for b in av[1]]  # type: ignore[index]
            if all(b.exact is not None for b in branches):
                absorb(_Info(frozenset(s for b in branches for s in b.exact)))  # type: ignore[union-attr]
                continue
            # One of the alternatives matched: the union of each one's best set is required.
            best = [_choose([*b.required, *([b.exact] if b.exact else [])]) for b in branches]
            # ``no(?:thing|ne\s+of)``, as the parser factors ``nothing|none of``: what comes
            # before the branch joined to how each alternative starts.
            starts = [b.exact if b.exact is not None else b.leading for b in branches]
            if all(s and "" not in s for s in starts):
                union = {a for s in starts for a in s}  # type: ignore[union-attr]
                if len(chain) * len(union) <= _EXACT_LIMIT:
                    joined = frozenset(c + a for c in chain for a in union)
                    factors.append(joined)
                    if leading is None:
                        leading = joined
            flush()
            exact_whole = False
            if all(b is not None for b in best):
                factors.append(frozenset(s for b in best for s in b))  # type: ignore[union-attr]
        elif op in _REPEATS:
            low, high, sub = av  # type: ignore[misc]
            inner = _analyse(sub)
            if low == high == 1:
                absorb(inner)
                continue
            if low == 0 and high == 1 and inner.exact is not None:
                # ``x?``: the literal goes on with or without it ("pre-?fill").
                absorb(_Info(inner.exact | {""}))
                continue
            flush()
            exact_whole = False
            if low >= 1:
                if inner.exact is not None and "" not in inner.exact:
                    factors.append(inner.exact)
                factors.extend(inner.required)
        else:  # ANY, NOT_LITERAL, GROUPREF, a class with categories...
            flush()
            exact_whole = False
    if exact_whole:
        return _Info(frozenset(chain), tuple(factors), frozenset(chain))
    flush()
    return _Info(None, tuple(factors), leading)


@dataclass(frozen=True)
class Literals:
    """What an expression's matches must contain, as literals."""

    # One literal of each set is in every match (only selective sets: no literal shorter than
    # 3 characters or among the commonest words). Empty: the expression always runs.
    required: tuple[frozenset[str], ...]
    # Every match starts with one of these (None when unknown), so the expression need only be
    # tried where one of them occurs.
    leading: frozenset[str] | None


def literals_of(pattern: str, flags: int = 0) -> Literals:
    try:
        parsed = sre_parse.parse(pattern, flags)
    except (re.error, RecursionError):
        return Literals((), None)
    info = _analyse(list(parsed))
    factors = [*info.required, *([info.exact] if info.exact else [])]
    useful = {_minimal(f) for f in factors if f and "" not in f and _strength(f) >= 3}
    required = tuple(sorted(useful, key=lambda f: (-_strength(f), len(f), sorted(f))))
    leading = info.leading
    if leading is not None and ("" in leading or min(map(len, leading)) < 2):
        leading = None
    return Literals(required, _minimal(leading, prefixes=True) if leading else None)


def _minimal(literals: frozenset[str], prefixes: bool = False) -> frozenset[str]:
    """Drop literals that another in the set already implies: finding "skipped" finds "skip"
    (a prefix, when looking for where matches start; anywhere inside, otherwise)."""
    lowered = sorted({lit.lower() for lit in literals}, key=len)
    kept: list[str] = []
    for literal in lowered:
        if not any(literal.startswith(k) if prefixes else k in literal for k in kept):
            kept.append(literal)
    return frozenset(lit for lit in literals if lit.lower() in kept)


def required_literals(pattern: str, flags: int = 0) -> tuple[frozenset[str], ...]:
    """Sets of literals such that every match of ``pattern`` contains one literal of each set."""
    return literals_of(pattern, flags).required


class RegexSet:
    """A fixed list of expressions; ``finditer(text)`` yields ``(index, match)`` for all of them."""

    def __init__(self, patterns: Sequence[str], flags: int = re.IGNORECASE) -> None:
        self.patterns = tuple(patterns)
        self.flags = flags | re.ASCII
        self.compiled = tuple(re.compile(p, self.flags) for p in self.patterns)
        self._prefilter = _prefilter(self.patterns, self.flags, hyperscan is not None)
        self._local = threading.local()

    def __len__(self) -> int:
        return len(self.compiled)

    def candidates(self, text: str) -> Sequence[int]:
        """The indexes of the expressions that may match ``text``, in order."""
        return [index for index, _ in self._plan(text)]

    def finditer(self, text: str) -> Iterator[tuple[int, re.Match[str]]]:
        """Every match of every expression, expression by expression, each left to right:
        exactly what ``compiled.finditer(text)`` gives for each."""
        compiled = self.compiled
        for index, starts in self._plan(text):
            for match in _matches(compiled[index], text, starts):
                yield index, match

    def _plan(self, text: str) -> list[tuple[int, list[int] | None]]:
        """The expressions that may match, each with the sorted positions where a match can
        start (None: anywhere)."""
        if not text:
            return []
        prefilter = self._prefilter
        ascii = text.isascii()
        data = b""
        if prefilter.database is not None and hyperscan is not None:
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: Hyperscan needs valid UTF-8
                return [(i, None) for i in range(len(self.compiled))]
            # Which literals occur; for the literals expressions are anchored on, where each
            # occurrence ends.
            ends: dict[int, list[int]] = {}
            prefilter.database.scan(
                data, match_event_handler=_collect, context=ends, scratch=self._scratch()
            )
        else:
            lowered = text.lower() if ascii else text.translate(_ASCII_LOWER)
            ends = _find_all(lowered, prefilter.lowered, prefilter.anchors)
            data = b""  # offsets are characters already
        return self._choose(text, ends, data)

    def _choose(
        self, text: str, ends: dict[int, list[int]], data: bytes
    ) -> list[tuple[int, list[int] | None]]:
        """From the literals found in ``text`` (ends in bytes of ``data``, or in characters
        when ``data`` is empty): the expressions that may match and where they may start."""
        prefilter = self._prefilter
        ascii = text.isascii()
        present = set(ends)
        maybe = set(prefilter.always)
        owners = prefilter.owners
        for literal in present:
            maybe.update(owners[literal])
        # An owner of a present literal has its one required set met; more sets need a look.
        factors = prefilter.factors
        for index in maybe & prefilter.several:
            for literals in factors[index]:
                if literals.isdisjoint(present):
                    maybe.discard(index)
                    break
        leading = prefilter.leading
        sizes = prefilter.sizes if data else prefilter.lengths
        plan: list[tuple[int, list[int] | None]] = []
        for index in sorted(maybe):
            lead = leading[index]
            if lead is None:
                plan.append((index, None))
                continue
            hits = lead & present
            if len(hits) == 1:
                [literal] = hits
                size = sizes[literal]
                starts = [end - size for end in ends[literal]]
            elif hits:
                starts = sorted({e - sizes[lit] for lit in hits for e in ends[lit]})
            else:
                continue
            if data and not ascii:  # Hyperscan's offsets count bytes
                starts = _characters(data, starts)
            plan.append((index, starts))
        return plan

    def _scratch(self) -> "hyperscan.Scratch":
        # Scratch space is per thread: a scan in progress owns it.
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._prefilter.database)
        return scratch


def _matches(
    pattern: re.Pattern[str], text: str, starts: list[int] | None
) -> Iterator[re.Match[str]]:
    """``pattern.finditer(text)``, trying only at ``starts`` when given: every match starts
    where a leading literal occurs, so trying there, left to right, resuming after each match,
    finds what finditer finds."""
    if starts is None:
        yield from pattern.finditer(text)
        return
    resume = 0
    for start in starts:
        if start < resume:
            continue
        match = pattern.match(text, start)
        if match is not None:
            yield match
            resume = match.end()


def _collect(literal: int, start: int, end: int, flags: int, ends: dict[int, list[int]]) -> None:
    found = ends.get(literal)
    if found is None:
        ends[literal] = [end]
    else:
        found.append(end)


# Lowercases ASCII letters only, so that offsets stay put in any text.
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _characters(data: bytes, offsets: list[int]) -> list[int]:
    """Byte offsets (sorted, each at a character boundary) as character offsets."""
    result = []
    byte = character = 0
    for offset in offsets:
        character += len(data[byte:offset].decode("utf-8"))
        byte = offset
        result.append(character)
    return result


def _anchor(literal: str) -> bool:
    """Worth looking for every occurrence of: not so short or common that it is everywhere."""
    word = literal.strip().lower()
    return (len(word) >= 4 or (len(word) >= 2 and not word.isalpha())) and word not in _EVERYWHERE


def _find_all(
    lowered: str, literals: tuple[str, ...], anchors: frozenset[int]
) -> dict[int, list[int]]:
    """What the Hyperscan pass finds, with ``in`` and ``find``: where each literal ends."""
    ends: dict[int, list[int]] = {}
    for literal, needle in enumerate(literals):
        at = lowered.find(needle)
        if at < 0:
            continue
        found = ends[literal] = []
        while at >= 0:
            found.append(at + len(needle))
            if literal not in anchors:
                break
            at = lowered.find(needle, at + 1)
    return ends


@dataclass(frozen=True)
class _Prefilter:
    """Every literal once (by id); which expressions need each; per expression its required
    sets and its leading literals as literal ids."""

    literals: tuple[str, ...]
    lowered: tuple[str, ...]
    sizes: tuple[int, ...]  # UTF-8 length of each literal
    lengths: tuple[int, ...]  # and in characters
    anchors: frozenset[int]  # literals whose every occurrence counts
    owners: tuple[tuple[int, ...], ...]
    factors: tuple[tuple[frozenset[int], ...], ...]
    several: frozenset[int]  # expressions with more than one required set
    leading: tuple[frozenset[int] | None, ...]
    always: tuple[int, ...]
    database: "hyperscan.Database | None" = None


def _database(literals: tuple[str, ...], anchors: frozenset[int]) -> "hyperscan.Database":
    """Every literal in one database: reported once, or at every occurrence for the literals
    that expressions are anchored on."""
    database = hyperscan.Database()
    database.compile(
        expressions=[literal.encode() for literal in literals],
        ids=list(range(len(literals))),
        elements=len(literals),
        flags=[
            hyperscan.HS_FLAG_CASELESS | (0 if i in anchors else hyperscan.HS_FLAG_SINGLEMATCH)
            for i in range(len(literals))
        ],
        literal=True,
    )
    return database


@lru_cache(maxsize=64)
def _prefilter(patterns: tuple[str, ...], flags: int, accelerate: bool) -> _Prefilter:
    """Cached: detectors are built for every scan, their expressions rarely change."""
    ids: dict[str, int] = {}
    owners: list[set[int]] = []

    def literal_id(literal: str) -> int:
        if literal not in ids:
            ids[literal] = len(ids)
            owners.append(set())
        return ids[literal]

    factors: list[tuple[frozenset[int], ...]] = []
    leading: list[frozenset[int] | None] = []
    always: list[int] = []
    for index, pattern in enumerate(patterns):
        found = literals_of(pattern, flags)
        if not found.required:
            always.append(index)
        sets = []
        for literals in found.required:
            literal_ids = frozenset(literal_id(literal) for literal in literals)
            for literal in literal_ids:
                owners[literal].add(index)
            sets.append(literal_ids)
        factors.append(tuple(sets))
        starts = found.leading
        if starts is not None and all(_anchor(lit) for lit in starts):
            leading.append(frozenset(literal_id(literal) for literal in starts))
        else:
            leading.append(None)
    literals = tuple(ids)
    anchors = frozenset(i for lead in leading if lead for i in lead)
    database = None
    if accelerate and literals:
        database = _database(literals, anchors)
    return _Prefilter(
        literals,
        tuple(literal.translate(_ASCII_LOWER) for literal in literals),
        tuple(len(literal.encode()) for literal in literals),
        tuple(len(literal) for literal in literals),
        anchors,
        tuple(tuple(sorted(o)) for o in owners),
        tuple(factors),
        frozenset(i for i, sets in enumerate(factors) if len(sets) > 1),
        tuple(leading),
        tuple(always),
        database,
    )
