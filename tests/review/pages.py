"""Reading rendered console pages in tests: the text of elements, as a browser would see it."""

from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class _TextOf(HTMLParser):
    """Collects the text inside every element matching ``attrs`` (all given attributes equal,
    ``class`` matched as one of the element's classes)."""

    def __init__(self, attrs: dict[str, str]) -> None:
        super().__init__(convert_charrefs=True)
        self.want = attrs
        self.depth = 0
        self.found: list[list[str]] = []
        self.raw_cr = False

    def matches(self, attrs: list[tuple[str, str | None]]) -> bool:
        have = dict(attrs)
        for name, value in self.want.items():
            if name == "class":
                if value not in (have.get("class") or "").split():
                    return False
            elif have.get(name) != value:
                return False
        return True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            if tag not in VOID:
                self.depth += 1
        elif self.matches(attrs):
            self.depth = 1
            self.found.append([])

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in VOID:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.found[-1].append(data)


def texts(html: str, **attrs: str) -> list[str]:
    """The text content of each element with these attributes (``class_`` for ``class``,
    ``data_step`` for ``data-step``)."""
    wanted = {name.rstrip("_").replace("_", "-"): value for name, value in attrs.items()}
    parser = _TextOf(wanted)
    parser.feed(html)
    parser.close()
    return ["".join(parts) for parts in parser.found]


def step_text(html: str, index: int) -> str:
    """The text of step ``index``'s content element: what selection.js measures offsets in."""
    found = texts(html, class_="step-content", data_step=str(index))
    assert len(found) == 1, f"step {index} content appears {len(found)} times"
    return found[0]


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    """Every start tag of the page with its attributes, as a browser's parser would build them."""
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser.tags
