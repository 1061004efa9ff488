"""`make bench`: what the three-service design costs against two references, in one run.

(a) our system through its HTTP order API, (b) the runtime ceiling (five no-op activities on
the same daprd, placement, scheduler and SQLite) and (c) the seed's one-process design; see
docs/perf.md for the method and the figures.
"""
