"""One module per corpus source: its ``MANIFEST`` and ``convert(repo)``."""
