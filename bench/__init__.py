"""Benchmarks: how close paysaga comes to the limit of the Temporal server it runs on.

`python -m bench --help`. Every figure is measured next to a floor (a minimal workflow on the
same server, in the same run), so the ratios mean something on any machine.
"""
