"""Run by test_cross_thread_signals.py in a child process (a crash must not kill pytest).

A worker QObject in a QThread emits BATCHES x PER_BATCH frozen dataclasses through
``Signal(object)``; a receiver QObject in the main thread gets them queued, as the window
gets the engine's token chunks. PySide6 6.12.0 dies here with
"Fatal Python error: none_dealloc: deallocating None". Prints one line:
``received <n> of <total>, <k> out of order`` and exits 0 when all arrived in order.
"""

from __future__ import annotations

import gc
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from dataclasses import dataclass

from PySide6.QtCore import QObject, QThread, QTimer, Signal, Slot
from PySide6.QtWidgets import QApplication

BATCHES = 20
PER_BATCH = 2000
TOTAL = BATCHES * PER_BATCH
WATCHDOG_MS = 60_000


@dataclass(frozen=True)
class Chunk:
    batch: int
    index: int
    text: str
    elapsed_s: float


class Producer(QObject):
    chunk = Signal(object)
    batch_done = Signal(object)

    @Slot()
    def run(self) -> None:
        for batch in range(BATCHES):
            for index in range(PER_BATCH):
                self.chunk.emit(Chunk(batch, index, f" piece {batch}.{index}", index * 0.01))
            self.batch_done.emit(batch)


class Receiver(QObject):
    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.out_of_order = 0
        self.wrong_thread = 0
        self.batches: list[int] = []

    @Slot(object)
    def on_chunk(self, chunk: Chunk) -> None:
        if QThread.currentThread() is not self.thread():
            self.wrong_thread += 1
        if (chunk.batch * PER_BATCH + chunk.index != self.count
                or chunk.text != f" piece {chunk.batch}.{chunk.index}"):
            self.out_of_order += 1
        self.count += 1
        self._maybe_done()

    @Slot(object)
    def on_batch_done(self, batch: int) -> None:
        self.batches.append(batch)
        self._maybe_done()

    def _maybe_done(self) -> None:
        if self.count == TOTAL and len(self.batches) == BATCHES:
            QApplication.quit()


def main() -> int:
    app = QApplication.instance() or QApplication([sys.argv[0]])
    thread = QThread()
    producer = Producer()
    producer.moveToThread(thread)
    receiver = Receiver()
    producer.chunk.connect(receiver.on_chunk)
    producer.batch_done.connect(receiver.on_batch_done)
    thread.started.connect(producer.run)
    QTimer.singleShot(WATCHDOG_MS, lambda: app.exit(3))
    thread.start()
    code = app.exec()
    thread.quit()
    thread.wait()
    gc.collect()
    batches_ok = receiver.batches == list(range(BATCHES))
    print(f"received {receiver.count} of {TOTAL}, {receiver.out_of_order} out of order, "
          f"{receiver.wrong_thread} in the wrong thread, batch ends in order: {batches_ok}",
          flush=True)
    ok = (code == 0 and receiver.count == TOTAL and receiver.out_of_order == 0
          and receiver.wrong_thread == 0 and batches_ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
