"""The documents index: passages of attached files and knowledge folders in SQLite FTS5,
ranked with BM25 (the history's search is FTS5 too, so no new engine and no new file
format). It lives in its own database in the data folder (``documents.sqlite3``): it can
be rebuilt from the files at any time, and a big folder never slows the history.

A document is keyed by the sha256 of its bytes, so the same file attached twice, or
present in two folders, is read and indexed once. A knowledge folder is indexed
incrementally: a file whose mtime and size are unchanged is skipped without reading it;
a changed one is hashed, and only new content is read and split again.

Threads: an ``DocumentIndex`` belongs to the thread that opened it (sqlite3's rule). The
window's thread keeps one for questions; a folder is indexed on a background thread with
a connection of its own (WAL lets both proceed).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chatdesk.core.documents.chunking import Chunk, chunk_document, estimate_tokens
from chatdesk.core.documents.reading import (
    MAX_FILE_BYTES,
    DocumentText,
    UnreadableDocument,
    kind_of,
    parse_document,
)

SCHEMA_VERSION = 1
COMMIT_EVERY_S = 0.5  # a folder's progress is committed this often (readers see it)

_SCHEMA = [
    """CREATE TABLE documents (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        pages INTEGER NOT NULL,
        chars INTEGER NOT NULL,
        tokens INTEGER NOT NULL,
        attached INTEGER NOT NULL DEFAULT 0,
        added_at REAL NOT NULL)""",
    """CREATE TABLE chunks (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL REFERENCES documents(sha256) ON DELETE CASCADE,
        ordinal INTEGER NOT NULL,
        page INTEGER NOT NULL,
        heading TEXT NOT NULL,
        text TEXT NOT NULL)""",
    "CREATE UNIQUE INDEX chunks_by_document ON chunks(sha256, ordinal)",
    # porter: "prices" finds "price"; BM25 weighs the heading half as much as the text.
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading, content='chunks', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, text, heading) VALUES (new.id, new.text, new.heading);
    END""",
    """CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, text, heading)
            VALUES ('delete', old.id, old.text, old.heading);
    END""",
    """CREATE TABLE folder_files (
        folder TEXT NOT NULL,
        path TEXT NOT NULL,
        mtime_ns INTEGER NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT,
        error TEXT,
        PRIMARY KEY (folder, path))""",
    "CREATE INDEX folder_files_by_document ON folder_files(sha256)",
]


@dataclass(frozen=True)
class DocumentInfo:
    sha256: str
    name: str
    kind: str
    pages: int
    chars: int
    tokens: int


@dataclass(frozen=True)
class Hit:
    """A passage found for a question (lower ``score`` is better: BM25 as FTS5 gives it)."""

    sha256: str
    ordinal: int
    page: int
    heading: str
    text: str
    score: float


@dataclass(frozen=True)
class FolderProgress:
    folder: str
    done: int  # files looked at
    total: int  # files found (0 while still counting)
    name: str = ""  # the file being read


@dataclass(frozen=True)
class FolderReport:
    folder: str
    files: int  # supported files found
    read: int  # files read and split now (new or changed)
    unchanged: int  # skipped: same mtime and size, or same content
    removed: int  # gone since the last time
    failed: tuple[tuple[str, str], ...]  # (path, reason) of files that cannot be read
    pages: int  # pages (a file without pages counts as one) read now
    seconds: float
    cancelled: bool = False


class IndexCancelled(Exception):
    """Raised inside ``index_folder`` when ``cancelled()`` says so (caught there)."""


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORD_TEXT = """
a an and are as at be been but by can could did do does for from had has have how i if in
into is it its me my no not of on or our so than that the their them then there these they
this those to was we were what when where which who whom why will with would you your about
tell please say said give show explain describe document file text page pages according
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def match_query(question: str) -> str | None:
    """An FTS5 query for a question: its words, each quoted (so nothing in the question is
    taken as FTS syntax), joined by OR so BM25 ranks passages by how many they share and
    how rare they are. None when the question has no word worth looking for."""
    words: list[str] = []
    for word in _WORD.findall(question.lower()):
        if (len(word) > 1 or word.isdigit()) and word not in _STOPWORDS and word not in words:
            words.append(word)
    if not words:
        return None
    return " OR ".join('"' + word.replace('"', '""') + '"' for word in words[:64])


class DocumentIndex:
    """One connection to the documents index; use it from the thread that opened it."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path) -> DocumentIndex:
        """Open (creating it when needed). A damaged or foreign file is moved aside and
        a new index started: everything in it can be read again from the files."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls._open(path)
        except sqlite3.DatabaseError:
            aside = path.with_name(f"{path.name}.damaged-{int(time.time())}")
            with contextlib.suppress(OSError):
                path.replace(aside)
            for suffix in ("-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(str(path) + suffix).unlink()
            return cls._open(path)

    @classmethod
    def _open(cls, path: Path) -> DocumentIndex:
        conn = sqlite3.connect(path, timeout=10, isolation_level=None,
                               check_same_thread=True)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    raise sqlite3.DatabaseError("not a chatdesk documents index")
                conn.execute("BEGIN IMMEDIATE")
                for statement in _SCHEMA:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            elif version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError("written by a newer chatdesk")
        except BaseException:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> DocumentIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # -- documents ------------------------------------------------------------------------
    def document(self, sha256: str) -> DocumentInfo | None:
        row = self._conn.execute("SELECT sha256, name, kind, pages, chars, tokens "
                                 "FROM documents WHERE sha256 = ?", (sha256,)).fetchone()
        return DocumentInfo(*row) if row else None

    def add_document(self, sha256: str, document: DocumentText, *, attached: bool = False,
                     chunks: Sequence[Chunk] | None = None) -> DocumentInfo:
        """Index a document read from bytes whose hash is ``sha256`` (kept as it is when
        it is already there; ``attached`` marks it as an attachment's, which a folder's
        clean-up never removes)."""
        with self._write() as conn:
            return self._add(conn, sha256, document, attached, chunks)

    def _add(self, conn: sqlite3.Connection, sha256: str, document: DocumentText,
             attached: bool, chunks: Sequence[Chunk] | None) -> DocumentInfo:
        existing = self.document(sha256)
        if existing is not None:
            if attached:
                conn.execute("UPDATE documents SET attached = 1 WHERE sha256 = ?", (sha256,))
            return existing
        chunks = chunk_document(document) if chunks is None else chunks
        text = document.text
        info = DocumentInfo(sha256, document.name, document.kind,
                            document.page_count, len(text), estimate_tokens(text))
        conn.execute("INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (*vars(info).values(), int(attached), time.time()))
        conn.executemany("INSERT INTO chunks (sha256, ordinal, page, heading, text) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [(sha256, c.ordinal, c.page, c.heading, c.text) for c in chunks])
        return info

    def mark_attached(self, sha256: str) -> None:
        """A folder's document is now an attachment's too: a folder's clean-up keeps it."""
        with self._write() as conn:
            conn.execute("UPDATE documents SET attached = 1 WHERE sha256 = ?", (sha256,))

    def chunks(self, sha256: str) -> list[Chunk]:
        """A document's passages, in order (together they are its whole text)."""
        return [Chunk(*row) for row in self._conn.execute(
            "SELECT ordinal, page, heading, text FROM chunks WHERE sha256 = ? "
            "ORDER BY ordinal", (sha256,))]

    def chunk(self, sha256: str, ordinal: int) -> Chunk | None:
        row = self._conn.execute("SELECT ordinal, page, heading, text FROM chunks "
                                 "WHERE sha256 = ? AND ordinal = ?",
                                 (sha256, ordinal)).fetchone()
        return Chunk(*row) if row else None

    def search(self, question: str, *, documents: Iterable[str] = (),
               folders: Iterable[str] = (), limit: int = 5) -> list[Hit]:
        """The passages of ``documents`` (hashes) and ``folders`` that best match
        ``question``, best first (BM25)."""
        query = match_query(question)
        documents, folders = list(documents), list(folders)
        if query is None or not (documents or folders):
            return []
        import json

        try:
            rows = self._conn.execute(
                "SELECT c.sha256, c.ordinal, c.page, c.heading, c.text, "
                "bm25(chunks_fts, 1.0, 0.5) AS score "
                "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND (c.sha256 IN (SELECT value FROM json_each(?)) "
                "OR c.sha256 IN (SELECT sha256 FROM folder_files WHERE folder IN "
                "(SELECT value FROM json_each(?)))) ORDER BY score LIMIT ?",
                (query, json.dumps(documents), json.dumps(folders), limit)).fetchall()
        except sqlite3.OperationalError:
            return []
        return [Hit(*row) for row in rows]

    def folder_name(self, sha256: str, folders: Iterable[str]) -> str | None:
        """Where a folder's passage came from: the file's path inside its folder."""
        for folder in folders:
            row = self._conn.execute("SELECT path FROM folder_files WHERE folder = ? AND "
                                     "sha256 = ? LIMIT 1", (folder, sha256)).fetchone()
            if row:
                return str(Path(folder).name) + "/" + row[0]
        return None

    def folder_stats(self, folder: str) -> tuple[int, int]:
        """(files indexed, files that could not be read) of a knowledge folder."""
        row = self._conn.execute(
            "SELECT count(sha256), count(error) FROM folder_files WHERE folder = ?",
            (folder,)).fetchone()
        return int(row[0]), int(row[1])

    def forget_folder(self, folder: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM folder_files WHERE folder = ?", (folder,))
            self._drop_orphans(conn)

    def _drop_orphans(self, conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM documents WHERE attached = 0 AND sha256 NOT IN "
                     "(SELECT sha256 FROM folder_files WHERE sha256 IS NOT NULL)")

    # -- folders --------------------------------------------------------------------------
    def index_folder(self, folder: str | Path, *,
                     progress: Callable[[FolderProgress], None] | None = None,
                     cancelled: Callable[[], bool] = lambda: False,
                     limit: int = MAX_FILE_BYTES) -> FolderReport:
        """Bring a folder's passages up to date (see the module's docstring). Work is
        committed every ``COMMIT_EVERY_S``: a cancel keeps what was done, and the next
        run goes on from there."""
        started = time.perf_counter()
        root = Path(folder)
        key = str(root)
        read = unchanged = pages = 0
        failed: list[tuple[str, str]] = []
        files: list[tuple[str, os.stat_result]] = []
        try:
            if not root.is_dir():
                raise UnreadableDocument(f"{root}: not a folder (or it is gone)")
            for relative, stat in _walk(root, cancelled):
                files.append((relative, stat))
                if progress is not None and len(files) % 1000 == 0:
                    progress(FolderProgress(key, 0, 0, relative))
            known = {row[0]: row[1:] for row in self._conn.execute(
                "SELECT path, mtime_ns, size, sha256, error FROM folder_files "
                "WHERE folder = ?", (key,))}
            present = {relative for relative, _ in files}
            removed = [path for path in known if path not in present]
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            committed = time.monotonic()
            try:
                conn.executemany("DELETE FROM folder_files WHERE folder = ? AND path = ?",
                                 [(key, path) for path in removed])
                for done, (relative, stat) in enumerate(files):
                    if cancelled():
                        raise IndexCancelled
                    if progress is not None and (done % 25 == 0 or done == len(files) - 1):
                        progress(FolderProgress(key, done, len(files), relative))
                    before = known.get(relative)
                    if before and before[0] == stat.st_mtime_ns and before[1] == stat.st_size:
                        unchanged += 1
                        if before[3]:
                            failed.append((relative, before[3]))
                        continue
                    outcome = self._index_file(conn, key, root / relative, relative, stat,
                                               before, limit)
                    if outcome is None:
                        unchanged += 1
                    elif isinstance(outcome, str):
                        failed.append((relative, outcome))
                    else:
                        read += 1
                        pages += outcome
                    if time.monotonic() - committed > COMMIT_EVERY_S:
                        conn.execute("COMMIT")
                        conn.execute("BEGIN IMMEDIATE")
                        committed = time.monotonic()
                self._drop_orphans(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("COMMIT")  # what was read so far is kept
                raise
        except IndexCancelled:
            return FolderReport(key, len(files), read, unchanged, 0, tuple(failed), pages,
                                time.perf_counter() - started, cancelled=True)
        if progress is not None:
            progress(FolderProgress(key, len(files), len(files)))
        return FolderReport(key, len(files), read, unchanged, len(removed), tuple(failed),
                            pages, time.perf_counter() - started)

    def _index_file(self, conn: sqlite3.Connection, folder: str, path: Path, relative: str,
                    stat: os.stat_result, before: tuple | None, limit: int
                    ) -> int | str | None:
        """Pages read (an int), the reason it failed (a str), or None: same content."""
        row = (folder, relative, stat.st_mtime_ns, stat.st_size)
        save = ("INSERT OR REPLACE INTO folder_files (folder, path, mtime_ns, size, sha256, "
                "error) VALUES (?, ?, ?, ?, ?, ?)")
        try:
            if stat.st_size > limit:
                raise UnreadableDocument(f"{path.name}: too big ({stat.st_size / 2**20:.0f}"
                                         f" MB; the limit is {limit / 2**20:.0f} MB)")
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise UnreadableDocument(f"{path.name}: cannot be read "
                                         f"({exc.strerror or exc})") from None
            sha = sha256_of(data)
            if before is not None and before[2] == sha:
                conn.execute(save, (*row, sha, None))
                return None
            if self.document(sha) is None:
                document = parse_document(path.name, data, kind_of(path))
                self._add(conn, sha, document, False, None)
                pages = max(1, document.page_count)
            else:
                pages = 0
            conn.execute(save, (*row, sha, None))
            return pages
        except UnreadableDocument as exc:
            conn.execute(save, (*row, None, str(exc)))
            return str(exc)


def _walk(root: Path, cancelled: Callable[[], bool]) -> Iterator[tuple[str, os.stat_result]]:
    """Supported files under ``root`` (hidden files and folders skipped, links not
    followed), as (path relative to root with "/", stat)."""
    stack = [root]
    while stack:
        if cancelled():
            raise IndexCancelled
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    subfolders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False) and kind_of(Path(entry.name)):
                    yield (Path(entry.path).relative_to(root).as_posix(),
                           entry.stat(follow_symlinks=False))
            except OSError:
                continue
        stack.extend(reversed(subfolders))
