"""The loaders' metrics, written to files that every API process's ``/metrics`` shows.

The loaders run in processes of their own, so each writes its registry (Prometheus text format)
every second and on the way out; the API processes of ``serve`` read them back after their own
figures, summed over the loaders. A ``supplylake loader`` run by hand can write one for a node
exporter's textfile collector.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from types import TracebackType

from supplylake import metrics
from supplylake.config import Settings

log = logging.getLogger(__name__)

_EVERY_SECONDS = 1.0


def loader_metrics_file(settings: Settings, n: int) -> Path:
    """Where loader process ``n`` of ``serve`` writes its metrics for ``/metrics`` to read."""
    return _folder(settings) / f"loader-{n}.prom"


def show_loader_metrics(settings: Settings, *, fresh: bool = False) -> None:
    """Make ``/metrics`` of this process show the loaders' files; ``fresh``: drop old ones.

    The figures of loaders that ran before are not those of the ones about to start.
    """
    folder = _folder(settings)
    if fresh:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("loader-*.prom"):
            old.unlink(missing_ok=True)
    metrics.read_loader_files(lambda: sorted(folder.glob("loader-*.prom")))


def _folder(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "run"


class MetricsWriter:
    """While inside: this process's loader metrics written to ``path`` every second, and at the end."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name="supplylake-loader-metrics", daemon=True
        )

    def __enter__(self) -> MetricsWriter:
        if self.path is not None:
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self.path is not None:
            self._thread.join(2)

    def _loop(self) -> None:
        assert self.path is not None
        while True:
            self._write(self.path)
            if self._stop.wait(_EVERY_SECONDS):
                self._write(self.path)
                return

    @staticmethod
    def _write(path: Path) -> None:
        try:
            metrics.write_loader_file(path)
        except OSError as exc:
            log.warning("cannot write the loader's metrics to %s: %s", path, exc)
