"""Chat with your documents (issue 13): read files, split them, index them with SQLite
FTS5, decide what of them a question is given, and keep attachments by content hash.

Everything here is Qt-free and runs the same from the window, the CLI and the tests. The
submodules are imported by name (``chatdesk.core.documents.reading``...), so importing the
package pulls in neither pypdf nor python-docx.
"""
