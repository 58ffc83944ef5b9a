"""deploy/ as Prometheus and Grafana read it: promtool accepts the config and the rules, the
alerts fire in the situations they describe, dashboards are well formed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from tests.observability.deploy_queries import (
    ALERT_RULES,
    ALERT_TESTS,
    DASHBOARDS,
    PROMETHEUS_CONFIG,
    alert_expressions,
    all_expressions,
    dashboard_expressions,
)
from tests.observability.promql import metric_names


def promtool() -> str:
    found = shutil.which("promtool")
    if found:
        return found
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("promtool is missing in CI: .ci/run installs it (Debian package prometheus)")
    pytest.skip("promtool is missing (apt-get install prometheus)")


def run_promtool(*args) -> str:
    result = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_accepts_the_prometheus_config():
    assert "SUCCESS" in run_promtool("check", "config", str(PROMETHEUS_CONFIG))


def test_promtool_accepts_the_alert_rules():
    assert "SUCCESS" in run_promtool("check", "rules", str(ALERT_RULES))


def test_alerts_fire_on_what_they_describe():
    run_promtool("test", "rules", str(ALERT_TESTS))


def test_every_dashboard_expression_parses_as_promql(tmp_path):
    """promtool parses rule expressions: check each panel's query as a recording rule."""
    rules = {
        "groups": [
            {
                "name": "dashboards",
                "rules": [
                    {
                        "record": f"dashboard:query_{index}",
                        "expr": expr.replace("$__rate_interval", "5m").replace("$__range", "1h"),
                    }
                    for index, expr in enumerate(dashboard_expressions().values())
                ],
            }
        ]
    }
    path = tmp_path / "dashboard_queries.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    run_promtool("check", "rules", str(path))


def test_dashboards_are_provisionable():
    assert {path.name for path in DASHBOARDS} >= {"paysaga-business.json", "temporal-worker.json"}
    uids = set()
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] not in uids and dashboard["title"] and dashboard["panels"]
        uids.add(dashboard["uid"])
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "prometheus", panel["title"]
            assert panel["targets"], panel["title"]


def test_metric_name_extraction():
    assert metric_names(
        'histogram_quantile(0.95, sum by (le, task_queue) (rate(a_seconds_bucket{job="x", le!="1"}[5m])))'
    ) == {"a_seconds_bucket"}
    assert metric_names(
        'sum(increase(b_total[30m])) > 3 and (sum(increase(c_total{topic="payment"}[30m])) or vector(0)) == 0'
    ) == {"b_total", "c_total"}
    assert metric_names("d / clamp_min(e offset 5m, 1e-9) > 0.5") == {"d", "e"}
    assert metric_names('up{job=~"paysaga-api|paysaga-worker"} == 0') == {"up"}


def test_every_query_names_a_paysaga_or_temporal_metric():
    for where, expr in all_expressions().items():
        names = metric_names(expr)
        assert names, f"{where}: no metric in {expr!r}"
        assert all(name.startswith(("paysaga_", "temporal_")) or name == "up" for name in names), (where, names)


def test_dashboard_panels_have_unique_ids_and_do_not_overlap():
    for path in DASHBOARDS:
        panels = json.loads(path.read_text())["panels"]
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), (path.name, ids)
        cells: dict[tuple[int, int], str] = {}
        for panel in panels:
            grid = panel["gridPos"]
            assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, (path.name, panel["title"])
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{path.name}: {panel['title']!r} overlaps {cells[x, y]!r}"
                    cells[x, y] = panel["title"]


CAPACITY_ALERTS = (
    "WorkerSlotsSaturated",
    "WorkflowTaskScheduleToStartSlow",
    "ActivityScheduleToStartSlow",
    "CheckoutsBusy",
)


def test_worker_capacity_alerts_are_tested_firing_and_quiet():
    assert set(CAPACITY_ALERTS) <= set(alert_expressions())
    cases = [case for test in yaml.safe_load(ALERT_TESTS.read_text())["tests"] for case in test["alert_rule_test"]]
    for alert in CAPACITY_ALERTS:
        expected = [case["exp_alerts"] for case in cases if case["alertname"] == alert]
        assert any(expected) and not all(expected), f"{alert}: promtool needs a case where it fires and one where not"


def test_worker_dashboard_shows_slots_and_schedule_to_start():
    queries = {
        where: expr for where, expr in dashboard_expressions().items() if where.startswith("temporal-worker.json")
    }
    for metric in (
        "temporal_worker_task_slots_used",
        "temporal_worker_task_slots_available",
        "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
        "temporal_activity_schedule_to_start_latency_seconds_bucket",
    ):
        assert any(metric in metric_names(expr) for expr in queries.values()), metric
    for quantile in ("0.5", "0.95"):
        assert any(
            f"histogram_quantile({quantile}," in expr and "workflow_task_schedule_to_start" in expr
            for expr in queries.values()
        ), quantile
