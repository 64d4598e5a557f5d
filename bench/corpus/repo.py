"""Read a source repository's files at one commit, from any git directory that holds the commit
(a bare mirror or a clone), so converters never depend on a work tree or on the network."""

import fnmatch
import subprocess
from pathlib import Path


class SourceRepo:
    """The files of ``commit`` in the git directory ``git_dir``."""

    def __init__(self, git_dir: Path, commit: str) -> None:
        self.git_dir = Path(git_dir)
        self.commit = commit

    def _git(self, *args: str) -> bytes:
        command = ["git", "--git-dir", str(self.git_dir), *args]
        # git from PATH, on a git directory and paths of the corpus manifest's own choosing.
        return subprocess.run(command, check=True, capture_output=True).stdout  # noqa: S603

    def paths(self, pattern: str = "*") -> list[str]:
        """Every file path at the commit matching the shell pattern, sorted."""
        listing = self._git("ls-tree", "-r", "-z", "--name-only", self.commit)
        names = [name.decode() for name in listing.split(b"\0") if name]
        return sorted(name for name in names if fnmatch.fnmatchcase(name, pattern))

    def read(self, path: str) -> bytes:
        """The bytes of one file at the commit."""
        return self._git("show", f"{self.commit}:{path}")
