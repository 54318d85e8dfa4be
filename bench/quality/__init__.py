"""Search-quality benchmark: a CodeSearchNet-style development set, metrics, a naive baseline.

``build_devset`` makes the corpora and queries, ``metrics`` scores ranked hits,
``naive`` is the anchor every wqm run is compared with, and ``wqm_adapter`` is
the one place that imports wqm (so a module move is a one-file change).
"""
