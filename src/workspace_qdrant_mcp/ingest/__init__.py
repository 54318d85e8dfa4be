"""Ingestion: from a project's files to points in its collection.

``walker`` decides which files count (git's view, minus binaries and vendored
code), ``chunker`` cuts their text into line ranges, and ``pipeline`` keeps the
index in step with the files, embedding only what changed. Split this way so
the pure parts (walking rules, chunking) are testable without a store or model.
"""
