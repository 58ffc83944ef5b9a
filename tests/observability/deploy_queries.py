"""Every PromQL expression of deploy/: alert rules and Grafana dashboard panels."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from config.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
ALERT_RULES = DEPLOY / "prometheus" / "alerts.yml"
ALERT_TESTS = DEPLOY / "prometheus" / "alerts_test.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load(ALERT_RULES.read_text())
    return {rule.get("alert") or rule["record"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def _panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels inside collapsed rows


def dashboard_expressions() -> dict[str, str]:
    found = {}
    for path in DASHBOARDS:
        dashboard = json.loads(Path(path).read_text())
        for panel in _panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                found[f"{path.name}: {panel['title']} [{target['refId']}]"] = target["expr"]
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") == "query" and query:
                found[f"{path.name}: variable {variable['name']}"] = query if isinstance(query, str) else query["query"]
    return found


def all_expressions() -> dict[str, str]:
    return {**{f"alert {name}": expr for name, expr in alert_expressions().items()}, **dashboard_expressions()}
