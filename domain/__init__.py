"""Pure business rules: no I/O, no Temporal, no FastAPI, no SQLAlchemy."""
