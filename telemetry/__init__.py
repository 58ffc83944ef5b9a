"""Traces, metrics and logs shared by the API and the worker."""
