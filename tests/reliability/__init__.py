"""Reliability suite for the alias system (issue 7): crashes, concurrency, bad input, secrets.

Bounded by default (the whole suite runs in well under 5 minutes); ``WQM_LONG=1``
repeats every crash case 20 times, runs the concurrency test longer and tries
many more hypothesis examples.
"""
