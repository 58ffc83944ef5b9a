"""The README's run command refuses a taken port by name and leaves nothing running."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

from config.settings import PROJECT_ROOT
from devstack.processes import free_port, port_in_use


def test_a_taken_port_is_named_and_nothing_is_started(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        temporal = free_port()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "devstack",
                "--var-dir",
                str(tmp_path),
                "--api-port",
                str(taken),
                "--temporal-port",
                str(temporal),
                "--temporal-ui-port",
                str(free_port()),
                "--sandbox-port",
                str(free_port()),
                "--worker-metrics-port",
                str(free_port()),
            ],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"API port {taken}" in done.stderr
    assert not port_in_use("127.0.0.1", temporal)  # the Temporal server was never started


def test_the_run_command_serves_a_purchase_and_ctrl_c_stops_everything(tmp_path):
    import signal

    import httpx

    from tests.support.checkouts import start_checkout_retrying_sync
    from tests.support.stack import token

    ports = {name: free_port() for name in ("temporal", "ui", "sandbox", "api", "metrics")}
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack",
            "--var-dir",
            str(tmp_path),
            "--temporal-port",
            str(ports["temporal"]),
            "--temporal-ui-port",
            str(ports["ui"]),
            "--sandbox-port",
            str(ports["sandbox"]),
            "--api-port",
            str(ports["api"]),
            "--worker-metrics-port",
            str(ports["metrics"]),
        ],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner = _read_until(run, "Try a checkout", timeout=90)
        api = f"http://127.0.0.1:{ports['api']}"
        assert api in banner and f"http://127.0.0.1:{ports['ui']}" in banner
        headers = {"Authorization": f"Bearer {token(1)}"}
        checkout = start_checkout_retrying_sync(api, token(1), user_id=1).json()
        paid = httpx.post(
            f"http://127.0.0.1:{ports['sandbox']}/checkout/v1/pay",
            data={"pref_id": checkout["preferenceId"], "outcome": "approved"},
            timeout=15,
        )
        assert paid.status_code in (200, 303)
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status != "ACTIVE":
            answer = httpx.get(f"{api}/api/subscriptions/user/1", headers=headers, timeout=5)
            status = answer.json().get("status") if answer.status_code == 200 else None
            time.sleep(0.2)
        assert status == "ACTIVE"
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)
    assert not any(port_in_use("127.0.0.1", port) for port in ports.values())


def _read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """What the process printed up to `marker`; a reader thread, so no read can block the deadline."""
    import queue
    import threading

    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        try:
            seen += lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no {marker!r} from the run command; it printed: {seen}") from None
    return seen
