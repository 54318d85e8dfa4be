"""Estimate how many word pieces all-MiniLM-L6-v2 reads in a line, without its tokenizer.

The dense model reads at most 256 word pieces (its uncased WordPiece vocabulary),
so a chunk is sized in pieces, not characters. Running the real tokenizer costs
1.1-1.7 MB/s on this machine (one ``encode_batch`` of a file's lines, or one
``encode`` of the file), 10x slower than this estimate (13-15 MB/s) and it
would tie chunk boundaries to a model file read at run time. The estimate
follows the tokenizer's rules: every punctuation character is a piece, words
are lower-cased and cut into vocabulary pieces whose count grows with the
word's length, camelCase parts are words of their own, long digit runs cost a
piece per two digits. The per-length costs were fitted on rich, click, C and
Markdown files against the real tokenizer; on held-out code (pydantic, C,
TypeScript, Markdown) the estimate of a 25-line window is within -10%/+12%
of the truth for 90% of windows (C runs ~8% under, hence a safety margin in
the budget). ``bench/bench_chunker.py`` reports the share of chunks that the
real tokenizer finds over 256 pieces.
"""

from __future__ import annotations

import re
from functools import lru_cache
from itertools import accumulate

__all__ = ["line_pieces", "piece_prefix", "text_pieces"]

# What BERT's pre-tokenizer separates: letter runs, digit runs, and every other
# non-space character on its own.
_TOKENS = re.compile(r"[A-Za-z]+|[0-9]+|\S")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
# Mean pieces of a lower-case (or Capitalised) word of 0..14 letters; longer: len/4.
_WORD_COST = (0.0, 1.0, 1.13, 1.18, 1.16, 1.18, 1.29, 1.37, 1.48, 1.55, 2.02, 1.95, 2.26,
              2.18, 2.89)
_CAMEL_FACTOR = 1.3  # "getusername" splits worse than "get", "user", "name" alone
_UPPER_FACTOR = 1.2  # acronyms are rarer words than their lower-case twins


def _word_cost(length: int) -> float:
    return _WORD_COST[length] if length < len(_WORD_COST) else length / 4.0


@lru_cache(maxsize=1 << 16)
def _token_cost(token: str) -> float:
    first = token[0]
    if not first.isascii() or not first.isalnum():
        return 1.0
    if first.isdigit():
        return 1.0 if len(token) <= 3 else 0.5 * len(token) + 0.2
    if token.islower() or token[1:].islower() or len(token) == 1:
        return _word_cost(len(token))
    if token.isupper():
        return _UPPER_FACTOR * _word_cost(len(token))
    return _CAMEL_FACTOR * sum(_word_cost(len(p)) for p in _CAMEL.findall(token))


def text_pieces(text: str) -> float:
    """Estimated word pieces of ``text`` (no [CLS]/[SEP])."""
    return sum(map(_token_cost, _TOKENS.findall(text)))


def line_pieces(lines: list[str]) -> list[float]:
    """Estimated word pieces of each line."""
    return [sum(map(_token_cost, _TOKENS.findall(line))) for line in lines]


def piece_prefix(lines: list[str]) -> list[float]:
    """Prefix sums: pieces of lines ``a..b`` (0-based, inclusive) are ``p[b + 1] - p[a]``."""
    return [0.0, *accumulate(line_pieces(lines))]
