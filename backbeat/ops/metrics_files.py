"""Several processes' metrics on one host: the files in BACKBEAT_METRICS_DIR.

Used with `backbeat serve --no-scheduler --no-worker` beside `backbeat scheduler` and
`backbeat worker` processes. Set the same BACKBEAT_METRICS_DIR, a directory on local disk
(tmpfs is ideal), for every Backbeat process on a host, and scrape /metrics on the API
process of each host: it adds up what every process on the host counted, through
prometheus_client's multiprocess mode (each process writes its numbers to its own files in
the directory, named by its pid). Processes in different pid namespaces (containers) must
not share a directory; give each container its own, with an API process in it, or run the
host's Backbeat processes in one container. At start-up each process folds the files of
processes that have exited into one archive per metric type and removes them (under a lock
that scrapes respect), so the directory does not grow with restarts and counters never go
backwards while it lasts; on a clean exit a process marks itself dead
(`multiprocess.mark_process_dead`). Wiping the directory while nothing runs (a reboot of a
tmpfs) starts every counter from zero, which Prometheus handles as a counter reset.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import multiprocess, values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key

from backbeat.config import ConfigurationError

log = logging.getLogger("backbeat.metrics")

ARCHIVE = "archive"  # the pid part of the files that hold exited processes' counts
_LOCK_FILE = ".lock"
_ENVIRONMENT = "PROMETHEUS_MULTIPROC_DIR"


def enter(directory: Path) -> Path:
    """Switch this process to counting in files in `directory` (created if need be), after
    folding the files of processes that have exited. Answers the directory, resolved."""
    directory = directory.resolve()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / _LOCK_FILE).touch()
    except OSError as exc:
        raise ConfigurationError(
            f"BACKBEAT_METRICS_DIR {directory} cannot be used: {exc.strerror or exc}"
        ) from None
    # prometheus_client names its files from the environment variable, and picks the
    # file-backed values only for metrics created after this.
    os.environ[_ENVIRONMENT] = str(directory)
    try:
        fold_exited(directory)
    except Exception as exc:  # a damaged file must not keep the process from starting
        log.warning(
            "metrics: could not fold exited processes' files",
            extra={"event": "metrics.fold_failed", "error": repr(exc)[:200]},
        )
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    return directory


def leave(directory: Path) -> None:
    """Close the files of the file-backed values in use (a second configure, in tests)."""
    values.close_all_multiprocess_files()  # type: ignore[no-untyped-call]
    if os.environ.get(_ENVIRONMENT) == str(directory):
        del os.environ[_ENVIRONMENT]


def mark_dead(pid: int, directory: Path) -> None:
    """A process's clean exit: its live gauges go from the sums."""
    multiprocess.mark_process_dead(pid, str(directory))  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    """Scrapes read under a shared lock; folding exited processes' files takes it alone."""
    import fcntl  # POSIX only, like the pid-named files themselves

    with open(directory / _LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class DirectoryCollector:
    """Every process's files in the directory, added up (prometheus_client's collector)."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def collect(self) -> Iterable[Metric]:
        collector = multiprocess.MultiProcessCollector(None, str(self._directory))  # type: ignore[no-untyped-call]
        with _locked(self._directory, exclusive=False):
            return list(collector.collect())  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def fold_exited(directory: Path) -> int:
    """Fold the files of processes that have exited (and this pid's, left by an earlier
    process: this one has written nothing yet) into one archive file per metric type, then
    remove them. Counters keep their totals; gauges of exited processes go. Answers how many
    files were removed."""
    me = os.getpid()
    removed = 0
    with _locked(directory, exclusive=True):
        exited: dict[str, list[str]] = defaultdict(list)
        archives: dict[str, str] = {}
        for path in glob.glob(str(directory / "*.db")):
            kind, _, owner = Path(path).stem.rpartition("_")
            kind = kind.split("_", 1)[0]  # gauge_livesum_12 → gauge
            if owner == ARCHIVE:
                archives[kind] = path
            elif owner.isdigit() and (int(owner) == me or not _alive(int(owner))):
                exited[kind].append(path)
        for kind, paths in exited.items():
            if kind in ("counter", "histogram", "summary"):
                _archive(directory, kind, [*paths, *filter(None, [archives.get(kind)])])
            for path in paths:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)
                    removed += 1
    return removed


def _archive(directory: Path, kind: str, paths: list[str]) -> None:
    """Write the sum of `paths` to the type's archive file, replacing it in one step."""
    merged = multiprocess.MultiProcessCollector.merge(paths, accumulate=False)  # type: ignore[no-untyped-call]
    temporary = directory / f".{kind}_{ARCHIVE}.{os.getpid()}.tmp"  # not *.db: never read
    with contextlib.suppress(FileNotFoundError):
        temporary.unlink()
    target = MmapedDict(str(temporary))  # type: ignore[no-untyped-call]
    try:
        for metric in merged:
            for sample in metric.samples:
                key = mmap_key(
                    metric.name,
                    sample.name,
                    list(sample.labels),
                    list(sample.labels.values()),
                    metric.documentation,
                )
                target.write_value(key, sample.value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        target.close()  # type: ignore[no-untyped-call]
    os.replace(temporary, directory / f"{kind}_{ARCHIVE}.db")
