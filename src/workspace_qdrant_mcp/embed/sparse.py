"""BM25 sparse vectors for keyword search over prose and code.

The vectors are meant for a Qdrant sparse vector configured with
``Modifier.IDF``: Qdrant computes the inverse document frequency from the
collection itself at query time, so the document side carries only BM25's
term-frequency saturation

    tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

with a fixed ``avgdl`` (no corpus statistics exist when one file is indexed),
and the query side weighs each unique term 1. ``avgdl`` is 32. A syntax-aware
chunk (``ingest.syntax``) holds 51 terms on average over attrs, httpx and
jinja2, header included (a line chunk of up to 1,000 characters: 95); the
earlier 256, fastembed's figure for prose, made every chunk look short, so
BM25 hardly preferred a short definition to a long mixed chunk. Below the
mean, length counts more still, and the quality dev set kept gaining down to
32 (hybrid MRR@10 0.495 at 64, 0.512 at 32, 0.514 at 16; sparse 0.375, 0.402,
0.420).

Tokenization serves code as well as prose: identifiers are split at
camelCase/PascalCase/snake_case/kebab-case and digit boundaries *and* kept
whole, so ``getUserName``, ``get_user_name`` and ``GetUserName`` all yield
``get``, ``user``, ``name`` and ``getusername``: the query "user name" finds
each of them, and the query ``getUserName`` finds ``get_user_name`` too.

English function words are dropped (``STOPWORDS``), and the parts of an
identifier are reduced by a light English stemmer (``stem``: plurals, -ed,
-ing, a final -e or -y), so "Returns the cached headers" meets
``cache_header`` and ``caching``; a whole identifier is kept as written, the
exact name being its own evidence. Measured on the search-quality dev set
(CodeSearchNet-style queries over attrs, httpx and jinja2; see
``docs/ARCHITECTURE.md``), code keywords as stopwords (``self``, ``return``,
``none``...) lowered MRR, so they stay terms: Qdrant's IDF already discounts
whatever is frequent in a collection.

Documents and queries go through the same ``tokenize``; ``SPARSE_VERSION``
names the tokenizer and weights, and changes whenever a text's terms or
weights change (an index built with another version must be rebuilt).

Terms map to indices with a stable 32-bit hash (blake2b), never Python's
``hash()``, which changes between processes; colliding terms share an index
and their weights are summed, so indices are unique within a vector.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..core.errors import InvalidArgument
from .texts import check_texts

__all__ = [
    "SPARSE_VERSION",
    "STOPWORDS",
    "SparseEmbedder",
    "SparseVec",
    "stem",
    "token_index",
    "tokenize",
]

#: Changes whenever the terms or weights of a text change: the index recipe records it.
SPARSE_VERSION = "bm25-2"

#: English function words (the usual list, as NLTK has it). Words that name
#: things in code stay searchable (``get``, ``set``, ``new``, ``key``, ``value``,
#: ``self``, ``return``, ``null``), and Qdrant's IDF discounts whatever else is
#: frequent in a given collection.
# fmt: off
STOPWORDS = frozenset({
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them",
    "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too",
    "under", "until", "up", "us", "very", "was", "we", "were", "what", "when", "where", "which",
    "while", "who", "whom", "why", "will", "with", "would", "you", "your", "yours", "yourself",
    "yourselves",
})
# fmt: on

#: Longer tokens are dropped: base64 blobs and minified code would each add a unique,
#: useless term (a 40-hex commit id still fits).
MAX_TOKEN_LENGTH = 64

# A run of letters/digits, possibly joined by "_" or "-" into one identifier. Other
# punctuation ("." in foo.bar, "/" in paths, "::") separates identifiers.
_IDENTIFIER = re.compile(r"[^\W_]+(?:[_-]+[^\W_]+)*")
_SEPARATORS = re.compile(r"[_-]+")
# ASCII case and digit boundaries: "HTTPServerError" -> HTTP, Server, Error; "utf8" -> utf, 8.
_ASCII_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


def _split_case(word: str) -> list[str]:
    """Split one separator-free word at case and digit boundaries."""
    if (word.islower() and word.isalpha()) or word.isdigit():
        return [word]  # the common case in prose: nothing to split
    if word.isascii():
        return _ASCII_PARTS.findall(word)
    # Non-ASCII letters: the same rules, by character class (re has no \p{Lu}).
    parts: list[str] = []
    start = 0
    for i in range(1, len(word)):
        prev, cur = word[i - 1], word[i]
        nxt = word[i + 1] if i + 1 < len(word) else ""
        if (
            prev.isdigit() != cur.isdigit()
            or (prev.islower() and cur.isupper())
            or (prev.isupper() and cur.isupper() and nxt.islower())
        ):
            parts.append(word[start:i])
            start = i
    parts.append(word[start:])
    return parts


# Singular words the plural rule must leave alone (most end in -ss, -us or -is: kept anyway).
_SINGULAR = frozenset({"alias", "bias", "canvas", "atlas", "pandas", "gas", "whereas", "always",
                       "perhaps", "news", "series", "species", "yes"})
# Words whose -ed/-ing is part of the word, not a suffix.
_WHOLE = frozenset({"embed", "hundred", "shred", "sled", "sacred", "naked", "wicked", "bring",
                    "string", "spring", "thing", "nothing", "something", "anything",
                    "everything", "ceiling", "evening", "morning", "sibling", "ring"})
_VOWEL = re.compile(r"[aeiouy]")
_UNDOUBLE = frozenset("bdgmnprt")  # stopped -> stop, but called -> call, passed -> pass


@lru_cache(maxsize=1 << 16)
def stem(term: str) -> str:
    """A light English stem: ``caches``, ``cached``, ``caching`` and ``cache`` all give ``cach``.

    Inflections only (plural -s/-es/-ies, -ed, -ing, then a final -e, and -y after
    a consonant as -i), never derivations (``parser`` stays ``parser``), and only
    for lower-case ASCII words of three letters or more. Unlike Porter's stemmer it
    keeps ``alias``/``aliases`` together and ``add``/``added`` apart from ``ad``.
    """
    if len(term) < 3 or not term.isascii() or not term.isalpha():
        return term
    if term.endswith("s") and term not in _SINGULAR:
        if term.endswith("ies") and len(term) > 4:
            term = term[:-3] + "i"
        elif term.endswith("es") and (term[-3] in "sxz" or term.endswith(("ches", "shes"))):
            term = term[:-2]
        elif not term.endswith(("ss", "us", "is")):
            term = term[:-1]
    if term in _WHOLE:
        return term
    for suffix in ("ing", "ed"):
        if term.endswith(suffix) and not term.endswith("eed"):
            base = term[: -len(suffix)]
            if len(base) >= 2 and _VOWEL.search(base):
                if len(base) >= 4 and base[-1] == base[-2] and base[-1] in _UNDOUBLE:
                    base = base[:-1]
                term = base
            break
    if len(term) > 2 and term.endswith("y") and term[-2] not in "aeiou":
        term = term[:-1] + "i"
    if len(term) >= 3 and term.endswith("e"):
        term = term[:-1]
    return term


def _keep(token: str) -> bool:
    return 1 < len(token) <= MAX_TOKEN_LENGTH and token not in STOPWORDS


def tokenize(text: str) -> list[str]:
    """Lower-case terms of ``text`` in order, with repeats (they are the term frequency).

    Each identifier gives its parts, stemmed, and, when it has several, the whole
    identifier joined without separators, as written. Stopwords and one-character
    terms are dropped. Documents and queries are tokenized alike.
    """
    if not isinstance(text, str):
        raise InvalidArgument(f"Text to tokenize must be a string, not {type(text).__name__}.")
    tokens: list[str] = []
    for match in _IDENTIFIER.finditer(text):
        parts = [p for chunk in _SEPARATORS.split(match.group()) for p in _split_case(chunk)]
        lowered = [p.lower() for p in parts]
        tokens.extend(stem(p) for p in lowered if _keep(p))
        if len(lowered) > 1:
            whole = "".join(lowered)
            if _keep(whole):
                tokens.append(whole)
    return tokens


@lru_cache(maxsize=1 << 16)
def token_index(token: str) -> int:
    """The stable 32-bit sparse index of ``token`` (same in every process and version)."""
    return int.from_bytes(hashlib.blake2b(token.encode("utf-8"), digest_size=4).digest(), "big")


@dataclass(frozen=True)
class SparseVec:
    """A sparse vector: unique ``indices`` in increasing order, with positive ``values``."""

    indices: list[int]
    values: list[float]


def _vector(weights: Iterable[tuple[str, float]]) -> SparseVec:
    summed: dict[int, float] = {}
    for token, weight in weights:
        idx = token_index(token)
        summed[idx] = summed.get(idx, 0.0) + weight
    indices = sorted(summed)
    return SparseVec(indices=indices, values=[summed[i] for i in indices])


class SparseEmbedder:
    """BM25 document and query vectors for a Qdrant sparse vector with ``Modifier.IDF``."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75, avgdl: float = 32.0) -> None:
        """Check the BM25 parameters.

        :param k1: term-frequency saturation (>= 0; 1.2 is the usual choice).
        :param b: length normalisation, 0 (none) to 1 (full).
        :param avgdl: the assumed average document length in tokens (> 0). It must
            stay the same for every document of a collection.
        """
        if not k1 >= 0:
            raise InvalidArgument(f"BM25 k1 must be >= 0, not {k1!r}.")
        if not 0 <= b <= 1:
            raise InvalidArgument(f"BM25 b must be between 0 and 1, not {b!r}.")
        if not avgdl > 0:
            raise InvalidArgument(f"BM25 avgdl must be > 0, not {avgdl!r}.")
        self.k1 = float(k1)
        self.b = float(b)
        self.avgdl = float(avgdl)

    def embed_document(self, text: str) -> SparseVec:
        """The BM25 term-frequency part of one document (empty text: empty vector)."""
        tokens = tokenize(text)
        norm = self.k1 * (1.0 - self.b + self.b * len(tokens) / self.avgdl)
        k1p1 = self.k1 + 1.0
        return _vector((t, tf * k1p1 / (tf + norm)) for t, tf in Counter(tokens).items())

    def embed_documents(self, texts: Sequence[str]) -> list[SparseVec]:
        """One vector per text, in order."""
        return [self.embed_document(text) for text in check_texts(texts, "embed_documents")]

    def embed_query(self, text: str) -> SparseVec:
        """Weight 1 per unique query term: Qdrant's IDF does the rest."""
        return _vector((t, 1.0) for t in dict.fromkeys(tokenize(text)))
