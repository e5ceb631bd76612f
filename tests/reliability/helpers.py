"""A small table of one's own, and the CLI run as a user runs it: exit code, stdout, stderr lines."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from customer_ml import cli
from tests.conftest import TEST_OVERRIDES


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: list[str]  # the log goes to stderr too: the error is the last line

    @property
    def last(self) -> str:
        return self.err[-1] if self.err else ""


@dataclass(frozen=True)
class Project:
    """An overlay for `accounts.csv` (id, x, amount) and the options that keep everything under `work`."""

    root: Path
    source: Path
    overlay: Path
    work: Path

    def run(self, capsys: pytest.CaptureFixture[str], *args: str, sets: tuple[str, ...] = ()) -> Outcome:
        options = (f"project.work_dir={self.work}", *TEST_OVERRIDES, *sets)
        capsys.readouterr()
        code = cli.main(["--overlay", str(self.overlay), *[a for o in options for a in ("--set", o)], *args])
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err.strip().splitlines())


def project(root: Path, rows: str = "1,a,1.5\n2,b,2.5\n3,c,3.5\n", lake_root: Path | None = None) -> Project:
    source, overlay = root / "accounts.csv", root / "mine.yml"
    source.write_text("id,x,amount\n" + rows, encoding="utf-8")
    lake = f"lake: {{root: '{lake_root}'}}\n" if lake_root else ""
    overlay.write_text(
        f"ingest: {{sources: {{accounts: {{format: csv, path: '{source}', options: {{header: true}}, "
        "casts: {id: int, amount: double}}}}\ndata: {id_column: id}\n" + lake,
        encoding="utf-8",
    )
    return Project(root, source, overlay, root / "work")


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A small file system of its own at `path` (root only): a disk that fills up, or that turns read-only.
    Skips the test where mounting is not allowed; always unmounts."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()})")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
