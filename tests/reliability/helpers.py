"""A small table of one's own, and the CLI run as a user runs it: exit code, stdout, stderr lines."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from customer_ml import cli, lake
from customer_ml.session import bind_settings
from customer_ml.settings import Settings
from tests.conftest import FAST_MODELS, REPO, TEST_OVERRIDES, make_settings


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
    """An overlay for `accounts.csv` (by default id, x, amount) and the options that keep everything under `work`."""

    root: Path
    source: Path
    overlay: Path
    work: Path
    sets: tuple[str, ...] = ()  # --set options every run of this project gets (e.g. the models to train)

    def argv(self, *args: str, sets: tuple[str, ...] = ()) -> list[str]:
        options = (f"project.work_dir={self.work}", *TEST_OVERRIDES, *self.sets, *sets)
        return ["--overlay", str(self.overlay), *[a for o in options for a in ("--set", o)], *args]

    def run(self, capsys: pytest.CaptureFixture[str], *args: str, sets: tuple[str, ...] = ()) -> Outcome:
        capsys.readouterr()
        code = cli.main(self.argv(*args, sets=sets))
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err.strip().splitlines())

    def call(self, *args: str, sets: tuple[str, ...] = ()) -> Outcome:
        """`run` without capsys (for fixtures wider than a test): stdout and stderr caught in memory."""
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(self.argv(*args, sets=sets))
        return Outcome(code, out.getvalue(), err.getvalue().strip().splitlines())

    def settings(self, *tables: str) -> Settings:
        """The settings its runs use, with `tables` (e.g. one a run named with --table) configured too."""
        return make_settings(self.work, *self.sets, overlays=(self.overlay,)).with_tables(list(tables))


def project(
    root: Path,
    rows: str = "1,a,1.5\n2,b,2.5\n3,c,3.5\n",
    lake_root: Path | None = None,
    *,
    header: str = "id,x,amount",
    casts: str = "{id: int, amount: double}",
    data: str = "{id_column: id}",
    sets: tuple[str, ...] = (),
) -> Project:
    source, overlay = root / "accounts.csv", root / "mine.yml"
    source.write_text(header + "\n" + rows, encoding="utf-8")
    lake = f"lake: {{root: '{lake_root}'}}\n" if lake_root else ""
    overlay.write_text(
        f"ingest: {{sources: {{accounts: {{format: csv, path: '{source}', options: {{header: true}}, "
        f"casts: {casts}}}}}}}\ndata: {data}\n" + lake,
        encoding="utf-8",
    )
    return Project(root, source, overlay, root / "work", sets)


def assert_one_line_error(outcome: Outcome, message: str) -> None:
    """Exit 2, no traceback anywhere on stderr, and `message` as its last line (after the `customer-ml: error: `
    prefix; a message ending in `…` is a prefix)."""
    assert outcome.code == 2, outcome.err[-5:]
    assert "Traceback" not in "\n".join(outcome.err)
    expected = f"customer-ml: error: {message}"
    if expected.endswith("…"):
        assert outcome.last.startswith(expected[:-1]), outcome.last
    else:
        assert outcome.last == expected


@dataclass(frozen=True)
class TableState:
    """A table as a reader finds it: its latest version, its rows, a fingerprint of every value (an order-free sum
    of row hashes), and the files in its folder that no commit references (`orphans`)."""

    version: int
    rows: int
    fingerprint: int
    orphans: frozenset[str]


def table_state(spark: SparkSession, settings: Settings, name: str) -> TableState | None:
    """The state of table `name` of `settings`' lake (None when it does not exist). Every value is read."""
    bind_settings(spark, settings, engine="delta-rs")
    if not lake.table_exists(spark, name):
        return None
    version = int(lake.history(spark, name, limit=1)[0]["version"])
    frame = lake.read_table(spark, name, version=version)
    hashed = F.xxhash64(*[F.col(f"`{c}`") for c in frame.columns]).cast("decimal(38,0)")
    rows, fingerprint = frame.select(F.count("*"), F.sum(hashed)).first()
    return TableState(version, rows, int(fingerprint or 0), orphans(Path(lake.table_path(spark, name))))


def states(spark: SparkSession, settings: Settings, *names: str) -> dict[str, TableState | None]:
    return {name: table_state(spark, settings, name) for name in names}


def orphans(table: Path) -> frozenset[str]:
    """Files under a table folder that no commit of its log adds (outside `_delta_log`), staging manifests
    included: what a reader never sees and nothing would ever delete."""
    referenced = set()
    for commit in (table / "_delta_log").glob("*.json"):
        for line in commit.read_text(encoding="utf-8").splitlines():
            action = json.loads(line) if line.strip() else {}
            if "add" in action:
                referenced.add(unquote(action["add"]["path"]))
    files = {p.relative_to(table).as_posix() for p in table.rglob("*") if p.is_file()}
    return frozenset(f for f in files - referenced if not f.startswith("_delta_log/"))


@dataclass(frozen=True)
class Killed:
    code: int
    err: str
    seconds: float


def kill_when(argv: list[str], ready: Callable[[str], bool], timeout: float = 300.0) -> Killed:
    """Run `customer-ml ARGV` as a user does (the venv's console script, in a session of its own), and SIGKILL
    every process of it (the CLI, its JVM, Spark's Python daemon and workers) as soon as `ready(stderr so far)` is
    true. Every process group of the session is killed: PySpark's daemon moves itself and the workers it forks
    into a group of their own, which a kill of the CLI's group alone would leave writing files after the JVM
    died. Fails when the command ends by itself first, or when a process survives the kill."""
    command = [str(Path(sys.executable).with_name("customer-ml")), "--conf-dir", str(REPO / "conf"), *argv]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    started = time.monotonic()
    child = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(child.stderr), daemon=True)
    reader.start()
    try:
        while not ready("".join(lines)):
            assert child.poll() is None, f"ended by itself (exit {child.returncode}) before the kill: {lines[-5:]}"
            assert time.monotonic() - started < timeout, f"not ready after {timeout} s: {lines[-5:]}"
            time.sleep(0.001)  # a write rolls a file in about a millisecond: look often
    finally:
        _kill_session(child.pid)
        child.wait(timeout=60)
    deadline = time.monotonic() + 30
    while _session(child.pid) and time.monotonic() < deadline:
        _kill_session(child.pid)  # a process forked while the first kill went round
        time.sleep(0.1)
    assert not _session(child.pid), f"processes of session {child.pid} survived SIGKILL: {_session(child.pid)}"
    reader.join(timeout=10)
    return Killed(child.returncode, "".join(lines), time.monotonic() - started)


def _kill_session(session: int) -> None:
    for group in {group for _, group in _session(session)} | {session}:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGKILL)


def _session(session: int) -> list[tuple[int, int]]:
    """(pid, process group) of every live (not zombie) process of session `session`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            found.append((int(stat.parent.name), int(fields[2])))
    return found


def new_files(folder: Path, before: frozenset[str] | set[str]) -> set[str]:
    """Parquet files under `folder` that were not there before (a write in progress has started)."""
    if not folder.is_dir():
        return set()
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*.parquet")} - set(before)


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


# A labelled table of one's own for the model probes: a planted signal (amount, region a), an all-null number
# (`empty`) and an all-null text column (`note`).
LABELLED_HEADER = "id,region,amount,calls,empty,note,y"
LABELLED_CASTS = "{id: int, amount: double, calls: int, empty: double}"
LABELLED_DATA = '{id_column: id, label: {column: y, positive: "Yes"}}'
# The models the probes train: the logistic baseline only, small (a model is needed, not a good one).
ONE_SMALL_MODEL = (
    "classifier.candidates.gbt.enabled=false",
    "classifier.candidates.xgboost.enabled=false",
    "classifier.candidates.logistic.params={maxIter: 10}",
)


def labelled_rows(count: int, seed: int, *, first_id: int = 1, label: str | None = "signal", region: str = "") -> str:
    """CSV rows for LABELLED_HEADER. `label`: "signal" (Yes more likely with amount and region a), "Yes" or "No"
    for one class only, None for rows without the label column (next month's). `region` forces one region."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        where = region or rng.choice("abc")
        amount = rng.gauss(0, 1)
        signal = 1 / (1 + math.exp(-(1.5 * amount + (where == "a") - 0.5)))
        y = ("Yes" if rng.random() < signal else "No") if label == "signal" else label
        row = f"{first_id + i},{where},{amount:.4f},{rng.randint(0, 5)},,"
        lines.append(row + (f",{y}" if y is not None else "") + "\n")
    return "".join(lines)


def labelled_project(root: Path, rows: str, *, header: str = LABELLED_HEADER) -> Project:
    return project(
        root, rows, header=header, casts=LABELLED_CASTS, data=LABELLED_DATA, sets=(*FAST_MODELS, *ONE_SMALL_MODEL)
    )
