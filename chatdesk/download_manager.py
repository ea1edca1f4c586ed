"""Model downloads in the background: a queue, one download at a time, each cancellable.

Like the engine worker, the downloader lives in its own QThread (a ThreadHost) and reports
through queued signals that carry frozen dataclasses. Cancelling sets the job's
``threading.Event`` directly (the download loop checks it between chunks and a watcher
closes a stalled socket), so a cancel is never stuck behind the running download.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, Signal, Slot

from chatdesk.core.downloads import (
    DownloadCancelled,
    DownloadError,
    DownloadProgress,
    download_model,
)
from chatdesk.core.model_store import record_catalog_id
from chatdesk.threads import ThreadHost

log = logging.getLogger(__name__)


class JobState(str, enum.Enum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class DownloadJob:
    job_id: int
    label: str
    repo_id: str
    filename: str
    revision: str = "main"
    sha256: str | None = None
    catalog_id: str | None = None


@dataclass(frozen=True)
class JobUpdate:
    """What the UI shows for one job; ``path`` is set once the file is installed."""

    job: DownloadJob
    state: JobState
    progress: DownloadProgress | None = None
    message: str = ""
    path: str | None = None


class _DownloadWorker(QObject):
    update = Signal(object)  # JobUpdate
    job_ended = Signal(int)  # job_id: ready for the next one

    def __init__(self, models_dir: Path) -> None:
        super().__init__()
        self._models_dir = models_dir
        self.cancels: dict[int, threading.Event] = {}

    @Slot(object)
    def run(self, job: DownloadJob) -> None:
        cancel = self.cancels.setdefault(job.job_id, threading.Event())

        def progress(sample: DownloadProgress) -> None:
            done = sample.total is not None and sample.downloaded >= sample.total
            state = JobState.VERIFYING if done else JobState.DOWNLOADING
            self.update.emit(JobUpdate(job, state, sample))

        try:
            if cancel.is_set():
                raise DownloadCancelled("cancelled before it started")
            self.update.emit(JobUpdate(job, JobState.DOWNLOADING))
            path = download_model(job.repo_id, job.filename, self._models_dir,
                                  revision=job.revision, sha256=job.sha256,
                                  on_progress=progress, cancel=cancel)
            if job.catalog_id:
                record_catalog_id(self._models_dir, path.name, job.catalog_id)
            self.update.emit(JobUpdate(job, JobState.DONE, message="installed and verified",
                                       path=str(path)))
        except DownloadCancelled:
            self.update.emit(JobUpdate(job, JobState.CANCELLED,
                                       message="cancelled; it resumes where it stopped"))
        except DownloadError as exc:
            self.update.emit(JobUpdate(job, JobState.FAILED, message=str(exc)))
        except Exception as exc:
            log.exception("download of %s failed unexpectedly", job.filename)
            self.update.emit(JobUpdate(job, JobState.FAILED,
                                       message=f"unexpected error ({type(exc).__name__}: "
                                               f"{exc}); details are in the log"))
        finally:
            self.cancels.pop(job.job_id, None)
            self.job_ended.emit(job.job_id)


class DownloadManager(QObject):
    """GUI-thread side: queue jobs, cancel them, learn how they went."""

    update = Signal(object)  # JobUpdate, for every state change and progress sample
    _start = Signal(object)

    def __init__(self, models_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._worker = _DownloadWorker(models_dir)
        self._start.connect(self._worker.run)
        self._worker.update.connect(self._on_update)
        self._worker.job_ended.connect(self._on_job_ended)
        self._queue: deque[DownloadJob] = deque()
        self._running: DownloadJob | None = None
        self._next_id = 0
        self.last: dict[int, JobUpdate] = {}
        self._host = ThreadHost(self._worker, "chatdesk-downloads")

    def enqueue(self, label: str, repo_id: str, filename: str, *, revision: str = "main",
                sha256: str | None = None, catalog_id: str | None = None) -> DownloadJob:
        self._next_id += 1
        job = DownloadJob(self._next_id, label, repo_id, filename, revision, sha256, catalog_id)
        self._queue.append(job)
        self._on_update(JobUpdate(job, JobState.QUEUED))
        self._start_next()
        return job

    def cancel(self, job_id: int) -> None:
        for job in list(self._queue):
            if job.job_id == job_id:
                self._queue.remove(job)
                self._on_update(JobUpdate(job, JobState.CANCELLED, message="removed from queue"))
                return
        event = self._worker.cancels.get(job_id)
        if event is not None:
            event.set()

    def retry(self, job_id: int) -> bool:
        """Queue a failed or cancelled job again under its own id (its row shows the new
        run; a partial file resumes). False when the job is still active or unknown."""
        last = self.last.get(job_id)
        if last is None or last.state not in (JobState.FAILED, JobState.CANCELLED):
            return False
        self._queue.append(last.job)
        self._on_update(JobUpdate(last.job, JobState.QUEUED))
        self._start_next()
        return True

    def _start_next(self) -> None:
        if self._running is None and self._queue:
            self._running = self._queue.popleft()
            self._worker.cancels[self._running.job_id] = threading.Event()
            self._start.emit(self._running)

    @Slot(object)
    def _on_update(self, update: JobUpdate) -> None:
        self.last[update.job.job_id] = update
        self.update.emit(update)

    @Slot(int)
    def _on_job_ended(self, job_id: int) -> None:
        if self._running is not None and self._running.job_id == job_id:
            self._running = None
        self._start_next()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel everything (partials are kept for next time) and join the thread."""
        self._queue.clear()
        for event in list(self._worker.cancels.values()):
            event.set()
        return self._host.shutdown(timeout_ms)

    def is_running(self) -> bool:
        return self._host.is_running()
