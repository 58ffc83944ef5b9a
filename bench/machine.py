"""What the figures were measured on: the machine, the versions, how busy it already was."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path

import asyncpg

PACKAGES = (
    "temporalio",
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "pydantic",
    "mercadopago",
)


def _first(path: str, key: str) -> str | None:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict[str, str]:
    memory_kb = _first("/proc/meminfo", "MemTotal")
    return {
        "cpu": _first("/proc/cpuinfo", "model name") or platform.processor() or "?",
        "cores": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(memory_kb.split()[0]) / 1024**2:.1f} GiB" if memory_kb else "?",
        "os": platform.platform(),
        "load average (1/5/15 min, before)": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def versions(temporal_binary: str) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    try:
        found["temporal CLI / server"] = subprocess.run(
            [temporal_binary, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found["temporal CLI / server"] = "?"
    found["sqlite"] = sqlite3.sqlite_version
    return found


async def postgres_version(admin_url: str) -> str:
    try:
        connection = await asyncpg.connect(admin_url, timeout=5)
    except (OSError, asyncpg.PostgresError):
        return "unreachable"
    try:
        return await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()


def resident_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) in MiB, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    values = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(value.split()[0]) / 1024
    return values.get("VmRSS", float("nan")), values.get("VmHWM", float("nan"))


def loaded_libraries(pid: int, names: tuple[str, ...]) -> dict[str, bool]:
    """Which of these extension modules a process has mapped (uvloop, httptools: is it using them?)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return {name: False for name in names}
    return {name: f"/{name}/" in maps for name in names}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
