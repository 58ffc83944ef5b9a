"""Temporal workflows: they decide, activities act. Nothing here does I/O."""
