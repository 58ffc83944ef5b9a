"""The audit log is append-only: no code updates or deletes audit rows, except the retention
activity, which deletes rows past their retention period (and never updates any).

The scan reads every module of the project (tests aside) and flags, outside that one file:
SQLAlchemy `update(...)`/`delete(...)` aimed at AuditRow, its table or a model it cannot name in
a module that uses AuditRow; `.update()`/`.delete()` on the audit table or on a query of
AuditRow; `session.merge` of an AuditRow; raw SQL that updates, deletes or truncates audit_log.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "api",
    "activities",
    "workflows",
    "store",
    "domain",
    "config",
    "events",
    "telemetry",
    "devstack",
    "sandbox",
    "storefront",
    "bench",
)
ALLOWED_DELETE = {"activities/retention.py"}
RAW_SQL = re.compile(
    r"\b(update\s+\"?audit_log\b|delete\s+from\s+\"?audit_log\b|truncate\s+(table\s+)?\"?audit_log\b)", re.IGNORECASE
)
MUTATORS = {"update", "delete"}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _is_audit(node: ast.AST) -> bool:
    """AuditRow, models.AuditRow, AuditRow.__table__, or a table named like the audit log."""
    if isinstance(node, ast.Attribute) and node.attr == "__table__":
        return _is_audit(node.value)
    return _name(node) in {"AuditRow", "audit_log", "audit_table", "AUDIT_LOG"}


def _is_model_name(node: ast.AST) -> bool:
    name = _name(node)
    return bool(name) and (name.endswith("Row") or name.endswith("_table")) and not _is_audit(node)


def violations(source: str, path: str) -> list[str]:
    tree = ast.parse(source)
    uses_audit = "AuditRow" in source or "audit_log" in source
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL.search(node.value):
            found.append(f"{where}: raw SQL changes audit_log")
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = _name(func)
        statement = isinstance(func, ast.Name) or (
            isinstance(func, ast.Attribute) and _name(func.value) in {"sa", "sqlalchemy", "sql"}
        )
        if name in MUTATORS and node.args and statement:
            # update(X) / delete(X) / sa.update(X): the statement's target is its first argument
            target = node.args[0]
            if _is_audit(target) or (uses_audit and not _is_model_name(target)):
                found.append(f"{where}: {name}() of the audit log")
        if name in MUTATORS and isinstance(func, ast.Attribute):
            # AuditRow.__table__.delete(), audit_table.update(), session.query(AuditRow).delete()
            owner = func.value
            if _is_audit(owner) or (isinstance(owner, ast.Call) and any(_is_audit(a) for a in owner.args)):
                found.append(f"{where}: .{name}() on the audit log")
        if name == "merge" and node.args and isinstance(node.args[0], ast.Call) and _is_audit(node.args[0].func):
            found.append(f"{where}: merge() rewrites an audit row")
    return found


def project_modules():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))
    yield ROOT / "worker.py"


def test_no_code_updates_or_deletes_audit_rows():
    found = []
    for module in project_modules():
        relative = module.relative_to(ROOT).as_posix()
        problems = violations(module.read_text(), relative)
        if relative in ALLOWED_DELETE:
            problems = [p for p in problems if "update" in p]  # retention may delete, never update
        found += problems
    assert not found, "the audit log is append-only:\n" + "\n".join(found)


def test_the_retention_activity_is_the_one_place_that_deletes_them():
    source = (ROOT / "activities/retention.py").read_text()
    assert "AuditRow" in source and violations(source, "activities/retention.py")


def test_the_scan_catches_what_it_is_meant_to():
    caught = [
        "from sqlalchemy import update\nupdate(AuditRow).values(action='x')",
        "import sqlalchemy as sa\nsa.delete(models.AuditRow)",
        "AuditRow.__table__.delete()",
        "session.query(AuditRow).update({'action': 'x'})",
        "await session.execute(text('DELETE FROM audit_log WHERE id = 1'))",
        "op.execute('update \"audit_log\" set actor = null')",
        "op.execute('TRUNCATE audit_log')",
        "session.merge(AuditRow(id=1, action='x'))",
        "from store.models import AuditRow\nmodel = AuditRow\nsession.execute(delete(model))",
    ]
    for snippet in caught:
        assert violations(snippet, "snippet.py"), snippet
    fine = [
        "insert(AuditRow).values(action='x')",
        "update(PaymentRow).values(status='APPROVED')",
        "select(AuditRow).where(AuditRow.id == 1)",
        "dialect_insert(session, AuditRow).on_conflict_do_nothing()",
        "'SELECT * FROM audit_log'",
        "from store.models import AuditRow\nheaders.update(extra)",
    ]
    for snippet in fine:
        assert not violations(snippet, "snippet.py"), snippet
