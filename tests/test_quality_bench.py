"""The search-quality benchmark's measuring stick: the set builder and the metrics.

Nothing is downloaded: the set is built from a hand-made file and from two of
wqm's own source files, written to a real git repository in tmp_path.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from quality import build_devset as bd
from quality.metrics import Span, first_hit_rank, overlaps, paired, summarize
from quality.naive import NaiveIndex

SOURCE = '''"""Module docstring stays."""
import functools


def plain(a, b):
    """Add two numbers together and return the sum.

    :param a: first
    >>> plain(1, 2)
    3
    """
    return a + b


@functools.lru_cache
def cached(x):
    """Compute the :func:`~pkg.mod.expensive` value of ``x`` once, e.g. for caching."""
    return x * 2


class Thing:
    """A class docstring stays too."""

    def __init__(self):
        """Initialize the thing with nothing at all."""
        self.x = 1

    def method(self):
        """Return the current value of the thing."""
        return self.x

    async def fetch(self):
        """Fetch the thing from a remote server.
        More text here."""
        return await other()

    def abstract(self):
        """Subclasses must implement this abstract method."""

    def short(self):
        """Too short."""
        return 1

    def twin(self):
        """Return the current value of the thing."""
        return self.x + 0


def outer():
    """Build an inner helper function and call it."""
    def inner():
        """Help the outer function with its work."""
        return 1
    return inner()


def test_something():
    """Check that something works as expected here."""
    assert True


def greet():
    """Say héllo to the wörld in a friendly way."""
    return "héllo"


def inline(): """A docstring on the def line stays where it is."""
'''

EXPECTED = '''"""Module docstring stays."""
import functools


def plain(a, b):
    return a + b


@functools.lru_cache
def cached(x):
    return x * 2


class Thing:
    """A class docstring stays too."""

    def __init__(self):
        self.x = 1

    def method(self):
        return self.x

    async def fetch(self):
        return await other()

    def abstract(self):
        ...

    def short(self):
        return 1

    def twin(self):
        return self.x + 0


def outer():
    def inner():
        return 1
    return inner()


def test_something():
    assert True


def greet():
    return "héllo"


def inline(): """A docstring on the def line stays where it is."""
'''

HELPER = '''def helper_for_tests():
    """Make a fixture object for the tests of the package."""
    return object()
'''


def test_strip_docstrings_rewrites_exactly() -> None:
    rewritten, functions = bd.strip_docstrings(SOURCE)
    assert rewritten == EXPECTED
    ranges = {f.qualname: (f.start_line, f.end_line) for f in functions}
    assert ranges["plain"] == (5, 6)
    assert ranges["cached"] == (9, 11)  # from the decorator
    assert ranges["Thing.fetch"] == (23, 24)
    assert ranges["Thing.abstract"] == (26, 27)
    assert ranges["outer"] == (36, 39)
    assert ranges["outer.<locals>.inner"] == (37, 38)
    assert ranges["greet"] == (46, 47)
    inline = next(f for f in functions if f.qualname == "inline")
    assert not inline.stripped and inline.docstring is not None


def test_queries_are_cleaned_filtered_and_deduplicated(tmp_path: Path) -> None:
    files, queries, stats = bd.build_queries("local", {"pkg/mod.py": SOURCE,
                                                       "tests/helpers.py": HELPER})
    assert {q.query: [t["qualname"] for t in q.targets] for q in queries} == {
        "Add two numbers together and return the sum": ["plain"],
        "Compute the expensive value of x once, e.g. for caching": ["cached"],
        "Return the current value of the thing": ["Thing.method", "Thing.twin"],
        "Fetch the thing from a remote server": ["Thing.fetch"],
        "Build an inner helper function and call it": ["outer"],
        "Help the outer function with its work": ["outer.<locals>.inner"],
        "Say héllo to the wörld in a friendly way": ["greet"],
    }
    assert stats.files == 2 and stats.queries == 7
    assert "Make a fixture" not in files["tests/helpers.py"]  # stripped, though no query
    for q in queries:  # no query can match its own text in the indexed code
        assert q.query.split(",")[0] not in files["pkg/mod.py"]


@pytest.mark.parametrize("docstring, query", [
    ("Send a ``GET`` request.\n\n**Parameters**: see below", "Send a GET request"),
    ("Return a :class:`Response <Response>` object for the given `url`_.",
     "Return a Response object for the given url"),
    (":param x: the first\nReturn nothing useful at all.", None),
    ("Initialize self.  See help(type(self)) for accurate signature.", None),
    ("Return repr(self) in a form that evaluates back.", None),
    ("Only three words.", None),
    ("The value, i.e. the thing we compute! Then more.", "The value, i.e. the thing we compute"),
])
def test_clean_query(docstring: str, query: str | None) -> None:
    assert bd.clean_query(docstring) == query


def test_line_ranges_are_exact_on_real_code(tmp_path: Path) -> None:
    """On real files: each target's lines are the function's source lines minus its docstring."""
    paths = ["src/workspace_qdrant_mcp/ingest/chunker.py", "src/workspace_qdrant_mcp/config.py"]
    originals = {p: (ROOT / p).read_text() for p in paths}
    files, queries, stats = bd.build_queries("local", originals)
    assert stats.queries >= 5 and not stats.unparsed
    bd.write_set(tmp_path / "set", files, queries, stats)
    repo = tmp_path / "set" / "repo"
    tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True,
                             check=True).stdout.split()
    assert sorted(tracked) == sorted(paths)
    loaded = bd.load_queries(tmp_path / "set" / "queries.jsonl")
    assert [q["query"] for q in loaded] == [q.query for q in queries]
    for path, text in originals.items():
        tree = ast.parse(text)
        lines = text.split("\n")
        expected: dict[str, str] = {}
        for qualname, fn in bd._functions(tree):
            start, end = bd._span(fn)
            doc = fn.body[0]
            docstring_lines: set[int] = set()
            if ast.get_docstring(fn) is not None and len(fn.body) > 1:
                assert doc.end_lineno is not None
                docstring_lines = set(range(doc.lineno, doc.end_lineno + 1))
            expected[qualname] = "\n".join(lines[i - 1] for i in range(start, end + 1)
                                           if i not in docstring_lines)
        written = (repo / path).read_text().split("\n")
        for q in loaded:
            for t in q["targets"]:
                if t["path"] != path:
                    continue
                got = "\n".join(written[int(t["start_line"]) - 1:int(t["end_line"])])
                assert got == expected[str(t["qualname"])], t


def test_overlap_and_rank() -> None:
    target = Span("a.py", 10, 20)
    assert overlaps(Span("a.py", 20, 30), target)  # sharing one line is a hit
    assert overlaps(Span("a.py", 1, 100), target)
    assert not overlaps(Span("a.py", 21, 30), target)  # adjacent is not
    assert not overlaps(Span("b.py", 10, 20), target)
    results = [Span("b.py", 10, 20), Span("a.py", 1, 9), Span("a.py", 15, 16), target]
    assert first_hit_rank(results, [target]) == 3
    assert first_hit_rank(results, [Span("c.py", 1, 5), Span("a.py", 5, 5)]) == 2
    assert first_hit_rank(results, [Span("c.py", 1, 5)]) is None


def test_summarize_known_values() -> None:
    s = summarize([1, 3, None, 12, 5], [10.0, 20.0, None, 30.0, 40.0])
    assert s["n"] == 5
    assert s["hit@1"] == pytest.approx(0.2)
    assert s["hit@5"] == pytest.approx(0.6)
    assert s["hit@10"] == pytest.approx(0.6)  # rank 12 is past the cutoff
    assert s["mrr@10"] == pytest.approx((1 + 1 / 3 + 1 / 5) / 5)
    assert s["mean_lines"] == pytest.approx(25.0)


def test_paired_counts_and_interval() -> None:
    a = {"q1": 1, "q2": None, "q3": 2, "q4": 4}
    b = {"q1": 2, "q2": 1, "q3": 2, "q4": 4, "q5": 1}  # q5 is not in A: not paired
    p = paired(a, b, resamples=2000)
    assert p["n"] == 4
    assert p["diff"] == pytest.approx((-0.5 + 1 + 0 + 0) / 4)
    assert (p["a_better"], p["b_better"], p["a_only"], p["b_only"]) == (1, 1, 0, 1)
    low, high = p["ci95"]
    assert -0.5 <= low < p["diff"] < high <= 1.0  # resampled means lie within the diffs
    constant = paired({f"q{i}": 1 for i in range(50)}, {f"q{i}": 2 for i in range(50)})
    assert constant["ci95"] == pytest.approx([-0.5, -0.5])  # no spread, no interval


def test_naive_windows_and_bm25() -> None:
    """A stand-in embedder (constant vectors): this checks windows and BM25, not the model."""
    text = "\n".join(f"line {i}" for i in range(1, 121)) + "\n"
    text = text.replace("line 77\n", "zebra crossing\n")
    index = NaiveIndex({"a.py": text, "b.py": "the of and\n"},
                       lambda texts: np.ones((len(texts), 4), dtype=np.float32))
    assert index.spans == [("a.py", 1, 50), ("a.py", 51, 100), ("a.py", 101, 120),
                           ("b.py", 1, 1)]
    vector = np.ones(4, dtype=np.float32)
    assert index.search("where is the zebra", vector, "sparse") == [("a.py", 51, 100)]
    assert index.search("the of and", vector, "sparse") == []  # stopwords only
    assert index.search("zebra", vector, "hybrid")[0] == ("a.py", 51, 100)


def test_ids_are_unique_for_a_property_getter_and_setter() -> None:
    source = '''class Response:
    @property
    def encoding(self):
        """Return the encoding used to decode the body into text."""
        return self._encoding

    @encoding.setter
    def encoding(self, value):
        """Set the encoding used to decode the body into text."""
        self._encoding = value
'''
    _, queries, _ = bd.build_queries("local", {"m.py": source})
    assert [q.id for q in queries] == ["local:m.py:Response.encoding",
                                       "local:m.py:Response.encoding#2"]
    assert [q.targets[0]["start_line"] for q in queries] == [2, 6]


@pytest.mark.parametrize("path, is_test", [
    ("tests/test_api.py", True), ("src/pkg/testing/util.py", True), ("conftest.py", True),
    ("test_x.py", True), ("src/pkg/tests.py", False), ("src/pkg/contest.py", False),
])
def test_test_paths(path: str, is_test: bool) -> None:
    assert bd.is_test_path(path) is is_test
