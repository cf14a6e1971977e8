"""The project's own files: compose file accepted, README commands present, CI calls the README's test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from tests.support.required import unavailable

ROOT = Path(__file__).resolve().parent.parent


def test_docker_compose_config_is_accepted() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("MILAI_REQUIRE_COMPOSE", "docker-compose not installed")
    proc = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    services = subprocess.run([tool, "-f", str(ROOT / "docker-compose.yml"), "config", "--services"],
                              capture_output=True, text=True, timeout=60).stdout.split()
    assert {"app", "db", "mail"} <= set(services)


def test_docker_compose_distributed_profile_has_the_cluster_and_scales_workers() -> None:
    import yaml

    tool = shutil.which("docker-compose")
    if tool is None:
        unavailable("MILAI_REQUIRE_COMPOSE", "docker-compose not installed")
    base = [tool, "-f", str(ROOT / "docker-compose.yml"), "--profile", "distributed"]
    env = {"PATH": os.environ.get("PATH", ""), "MILAI_REDIS_URL": "redis://redis:6379/0"}
    proc = subprocess.run([*base, "config"], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stderr
    services = yaml.safe_load(proc.stdout)["services"]
    assert {"app", "db", "mail", "redis", "scheduler", "worker", "sender"} <= set(services)
    commands = {name: " ".join(svc.get("command") or []) for name, svc in services.items()}
    assert commands["worker"].startswith("milai worker") and "--role sender" in commands["sender"]
    assert commands["scheduler"] == "milai scheduler"
    for name in ("app", "scheduler", "worker", "sender"):
        assert services[name]["environment"]["MILAI_REDIS_URL"] == "redis://redis:6379/0", name
        assert services[name]["environment"]["MILAI_DATABASE_URL"].startswith("postgresql://"), name
    # a scaled service can publish no fixed host port
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]


def test_readme_names_the_two_commands_and_ci_calls_the_test_one() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^make run$", readme, re.M), "README must name `make run`"
    assert re.search(r"^make test$", readme, re.M), "README must name `make test`"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, re.M)


def test_console_script_lists_every_documented_command() -> None:
    from typer.testing import CliRunner

    from milai.cli.main import app

    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for command in ("run", "scheduler", "worker", "status", "serve", "crawl", "search", "classify", "sources",
                    "subscribe", "digest", "db"):
        assert re.search(rf"\b{command}\b", result.output), command
