"""The pure half of ingestion: which files count, and how their text is cut into chunks.

``walker`` decides which files count (git's view, minus binaries and vendored
code) and ``chunker`` cuts their text into line ranges. Neither touches a store
or a model, so both are testable on their own; the operation that keeps an
index in step with the files is ``ops/ingest.py``.
"""
