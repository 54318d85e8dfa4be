"""The BM25 tokenizer: stopwords, light stemming, identifier splitting, one path for queries and documents.

Pure functions, no store: the sparse vectors themselves are checked in
``test_embed.py``. A pinned digest of the tokens of a fixed text ties the
output to ``SPARSE_VERSION``, so a change of terms cannot ship without a
version bump (an index built by the old tokenizer would silently stop matching).
"""

from __future__ import annotations

import hashlib

import pytest

from workspace_qdrant_mcp.embed.sparse import (
    SPARSE_VERSION,
    STOPWORDS,
    SparseEmbedder,
    stem,
    token_index,
    tokenize,
)


@pytest.mark.parametrize("forms", [
    ["cache", "caches", "cached", "caching"],
    ["match", "matches", "matched", "matching"],
    ["parse", "parses", "parsed", "parsing"],
    ["retry", "retries", "retried", "retrying"],
    ["alias", "aliases"],
    ["class", "classes"],
    ["status", "statuses"],
    ["process", "processes"],
    ["add", "adds", "added", "adding"],
    ["stop", "stops", "stopped", "stopping"],
    ["set", "sets", "setting", "settings"],
    ["query", "queries", "queried"],
    ["value", "values"],
    ["id", "ids"],
    ["box", "boxes"],
    ["embed", "embeds", "embedded", "embedding"],
    ["use", "uses", "used", "using"],
    ["log", "logs", "logged", "logging"],
])
def test_inflections_share_a_stem(forms: list[str]) -> None:
    assert len({stem(f) for f in forms}) == 1, {f: stem(f) for f in forms}


@pytest.mark.parametrize(("a", "b"), [
    ("parse", "parser"),  # derivations stay apart
    ("add", "ad"),
    ("string", "str"),
    ("thing", "th"),
    ("need", "ne"),
    ("analysis", "analys"),
    ("bus", "bu"),
])
def test_different_words_keep_different_stems(a: str, b: str) -> None:
    assert stem(a) != stem(b)


@pytest.mark.parametrize("term", ["ok", "x", "utf8", "ärger", "naïve", "2024", "py"])
def test_short_non_ascii_and_digit_terms_are_not_stemmed(term: str) -> None:
    assert stem(term) == term


def test_stopwords_are_english_and_code_words_stay() -> None:
    assert {"the", "of", "which", "would", "about", "yourselves"} <= STOPWORDS
    kept = {"get", "set", "new", "key", "value", "self", "return", "null", "none", "true",
            "false", "default", "type", "class", "file"}
    assert not kept & STOPWORDS
    assert tokenize("Return the value of the key, or None") == ["return", "valu", "key", "non"]


def test_identifiers_split_into_stemmed_parts_and_stay_whole() -> None:
    assert tokenize("parseHeaders") == ["pars", "header", "parseheaders"]
    assert tokenize("parse_headers") == tokenize("ParseHeaders") == tokenize("parseHeaders")
    assert tokenize("HTTPServerErrors") == ["http", "server", "error", "httpservererrors"]
    assert tokenize("self.user_ids") == ["self", "user", "id", "userids"]


def test_a_query_meets_the_words_of_a_document() -> None:
    """Query and document go through one tokenizer: inflections and identifiers meet."""
    embedder = SparseEmbedder()
    document = embedder.embed_document("def cache_headers(response):\n    return response.headers\n")
    query = embedder.embed_query("Caches the response header")
    shared = set(document.indices) & set(query.indices)
    assert {token_index("cach"), token_index("header"), token_index("respons")} <= shared
    assert set(embedder.embed_query("cache_headers").indices) <= set(document.indices)


def test_query_and_document_terms_are_the_same_terms() -> None:
    text = "Returns the cached HTTPHeaders of a parsed request, or raises ValueError."
    embedder = SparseEmbedder()
    assert embedder.embed_query(text).indices == embedder.embed_document(text).indices


_GOLDEN = (
    "Build the request's headers: getUserName() returns the cached user names, "
    "retries failed connections and parses HTTPServerError responses; "
    "données_utf8 café-au-lait self.is_ready __init__ 0xFF 2024-01-01"
)


def test_the_tokenizer_output_is_pinned_to_its_version() -> None:
    """If this fails, the terms changed: bump SPARSE_VERSION, then update the digest."""
    tokens = tokenize(_GOLDEN)
    digest = hashlib.sha256(" ".join(tokens).encode("utf-8")).hexdigest()[:16]
    assert (SPARSE_VERSION, digest) == ("bm25-2", "c731f61d1d15162e"), tokens
