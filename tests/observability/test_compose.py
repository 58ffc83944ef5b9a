"""docker-compose.yml (not runnable here) checked for what would break it: the services the
stack needs, application environment variable names that the Settings class actually reads,
Prometheus targets that exist, files that the mounts and the Dockerfile refer to, the Compose
specification itself, who migrates and who serves, and what is published on the host."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from config.settings import PROJECT_ROOT, Settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
APP_SERVICES = ("api", "worker-1", "worker-2")
INIT_SQL = PROJECT_ROOT / "deploy" / "postgres-init.sql"
# read by the OpenTelemetry SDK itself, not by Settings
STANDARD_PREFIXES = ("OTEL_",)
SETTINGS_NAMES = {name.upper() for name in Settings.model_fields}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): str(value) for key, value in env.items()}


def with_defaults(value: str) -> str:
    """`${VAR:-default}` as compose reads it with nothing set."""
    return re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", value)


def published(service: dict) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of each `ports` entry in its short form."""
    found = []
    for entry in service.get("ports") or []:
        parts = str(entry).split(":")
        address = parts[0] if len(parts) == 3 else "0.0.0.0"
        found.append((address, parts[-2], parts[-1]))
    return found


def database_role(service: dict) -> str:
    return re.match(r"postgresql\+asyncpg://([^:@]+)", environment(service)["DATABASE_URL"]).group(1)


def test_the_full_stack_is_there(compose):
    services = set(compose["services"])
    assert {
        "postgresql",
        "temporal",
        "temporal-ui",
        "migrate",
        "api",
        "worker-1",
        "worker-2",
        "prometheus",
        "grafana",
        "otel-collector",
        "jaeger",
    } <= services
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), name
        for dependency in service.get("depends_on") or []:
            assert dependency in services, (name, dependency)


def test_application_environment_names_are_settings(compose):
    for name in APP_SERVICES:
        env = environment(compose["services"][name])
        unknown = {key for key in env if key not in SETTINGS_NAMES and not key.startswith(STANDARD_PREFIXES)}
        assert not unknown, f"{name} sets variables the Settings class does not read: {sorted(unknown)}"
        for required in (
            "DATABASE_URL",
            "TEMPORAL_ADDRESS",
            "TEMPORAL_NAMESPACE",
            "TEMPORAL_TASK_QUEUE",
            "MERCADOPAGO_ACCESS_TOKEN",
            "MERCADOPAGO_WEBHOOK_SECRET",
            "MERCADOPAGO_NOTIFICATION_URL",
            "AUTH_JWT_SECRET",
            "PAYLOAD_ENCRYPTION_KEY",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ):
            assert required in env, (name, required)
        assert env["TEMPORAL_ADDRESS"].split(":")[0] == "temporal"
        assert "@postgresql:" in env["DATABASE_URL"] and env["DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector:4318")


def test_the_settings_accept_the_compose_defaults(compose):
    """Interpolate `${VAR:-default}` as compose would with nothing set, and load Settings from it."""
    for name in APP_SERVICES:
        env = {key: with_defaults(value) for key, value in environment(compose["services"][name]).items()}
        fields = {key.lower(): value for key, value in env.items() if key in SETTINGS_NAMES}
        Settings(**fields).check_production()


def test_prometheus_scrapes_every_app_process_where_it_serves(compose):
    config = yaml.safe_load((PROJECT_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for static in job.get("static_configs", [])
        for target in static["targets"]
    }
    for name in ("worker-1", "worker-2"):
        port = environment(compose["services"][name])["WORKER_METRICS_ADDRESS"].rsplit(":", 1)[1]
        assert f"{name}:{port}" in targets
        assert environment(compose["services"][name])["WORKER_METRICS_ADDRESS"].startswith("0.0.0.0:")
    assert "api:8000" in targets
    hosts = {target.split(":")[0] for target in targets} - {"localhost"}
    assert hosts <= set(compose["services"]), hosts - set(compose["services"])


def test_the_temporal_ui_decodes_through_the_api(compose):
    ui = environment(compose["services"]["temporal-ui"])
    api = environment(compose["services"]["api"])
    [(_, api_port, _)] = published(compose["services"]["api"])
    # the browser calls the codec server: the API as published on the host
    assert with_defaults(ui["TEMPORAL_CODEC_ENDPOINT"]) == f"http://localhost:{api_port}/codec"
    [(_, ui_port, _)] = published(compose["services"]["temporal-ui"])
    assert f"http://localhost:{ui_port}" in with_defaults(api["TEMPORAL_UI_ORIGIN"]).split(",")


def test_mounted_files_exist(compose):
    for name, service in compose["services"].items():
        for volume in service.get("volumes") or []:
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (PROJECT_ROOT / source).exists(), (name, source)
        for command in service.get("command") or []:
            if isinstance(command, str) and command.startswith("--config="):
                mounted = {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}
                assert command.split("=", 1)[1] in mounted, (name, command)


def test_the_owner_migrates_once_and_the_runtime_role_serves(compose):
    """The image only serves; a one-shot `migrate` applies the schema as the tables' owner, and the
    API and the workers start after it succeeded, as a role that can change neither the schema nor
    the audit trail (deploy/postgres-init.sql, store/migrations 0003)."""
    dockerfile = DOCKERFILE.read_text()
    cmd = [line for line in dockerfile.splitlines() if line.startswith("CMD")]
    assert len(cmd) == 1 and "uvicorn" in cmd[0] and "api.main:app" in cmd[0] and "alembic" not in cmd[0]
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"] and migrate.get("restart") == "no"
    assert migrate["depends_on"]["postgresql"]["condition"] == "service_healthy"
    for name in APP_SERVICES:
        assert compose["services"][name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert database_role(compose["services"][name]) == "paysaga_runtime", name
    for name in ("worker-1", "worker-2"):
        assert compose["services"][name]["command"] == ["python", "worker.py"]
    assert database_role(migrate) == "paysaga_owner"
    init = INIT_SQL.read_text()
    assert "CREATE DATABASE paysaga OWNER paysaga_owner" in init
    assert (
        re.search(r"CREATE ROLE paysaga_runtime LOGIN", init)
        and "paysaga_runtime" not in init.split("CREATE DATABASE")[1]
    ), "the runtime role owns nothing"


def test_only_the_api_listens_beyond_the_hosts_loopback(compose):
    for name, service in compose["services"].items():
        for address, host_port, _ in published(service):
            if name == "api":
                continue
            assert address == "127.0.0.1", f"{name} publishes {host_port} on every interface of the host"
    for name in ("worker-1", "worker-2"):
        assert not compose["services"][name].get("ports"), f"{name}'s metrics are for Prometheus only"


def test_the_stack_is_staging_by_default_without_development_routes(compose):
    for name in APP_SERVICES:
        env = environment(compose["services"][name])
        assert with_defaults(env["APP_ENV"]) == "staging"
        assert "DEV_ROUTES" not in env


def test_the_file_follows_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_validates_the_file_when_available(tmp_path):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("docker compose is not installed here")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
