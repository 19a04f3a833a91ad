"""deploy/compose.yaml and deploy/Dockerfile: the whole stack for operators with Docker.

No Docker daemon runs here, so the file is checked for what can go wrong without one: the
services are all there, every `eosc-perf` command is one the CLI accepts, every file the
image or a service needs exists. Where the compose plugin is installed, `docker compose
config` must accept the file as well.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from eosc_perf.cli import parser

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SERVICES = {"postgres", "kafka", "init", "command", "query", "relay", "projector", "mailer", "nginx"}


def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_the_compose_file_runs_the_whole_topology_with_kafka():
    found = services()
    assert set(found) == SERVICES
    commands = {name: service.get("command") for name, service in found.items()}
    assert commands["relay"] == ["eosc-perf", "relay"]
    assert commands["projector"] == ["eosc-perf", "project", "--source", "kafka"]
    assert commands["mailer"] == ["eosc-perf", "mailer", "--source", "kafka"]
    for name in ("command", "query", "relay", "projector", "mailer"):
        assert found[name]["depends_on"]["init"]["condition"] == "service_completed_successfully", name
        assert found[name]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", name


def test_every_eosc_perf_command_in_the_compose_file_is_one_the_cli_accepts():
    for service in services().values():
        command = service.get("command") or []
        if command[:1] == ["eosc-perf"]:
            parser().parse_args(command[1:])  # exits (SystemExit) on an unknown command or option


def test_the_files_the_image_and_the_services_use_exist():
    for source in re.findall(r"^COPY (\S+) ", (ROOT / "deploy" / "Dockerfile").read_text(), re.MULTILINE):
        assert (ROOT / source).exists(), source
    for name, service in services().items():
        for word in service.get("command") or []:
            if word.startswith("deploy/"):
                assert (ROOT / word).is_file(), (name, word)
        for volume in service.get("volumes") or []:
            if volume.startswith("./"):
                assert (COMPOSE.parent / volume.split(":")[0]).is_file(), (name, volume)


def test_docker_compose_accepts_the_file_where_the_plugin_is_installed():
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        return  # no compose plugin on this machine: the checks above stand in for it
    checked = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr
