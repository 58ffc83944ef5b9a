"""deploy/ as Prometheus and Grafana read it: promtool accepts the config and the rules, the
alerts fire in the situations they describe, dashboards are well formed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.observability.deploy_queries import (
    ALERT_RULES,
    ALERT_TESTS,
    DASHBOARDS,
    PROMETHEUS_CONFIG,
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
