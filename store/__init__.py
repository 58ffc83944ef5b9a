"""Persistence: the read model and the audit trail (never imported by workflows)."""
