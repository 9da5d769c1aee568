"""Side-by-side benchmarks of pycertmonger against the stock certmonger daemon.

Nothing here runs on import; the entry point is ``bench/run.py`` (or ``python -m bench.run``).
"""
