"""The pure half of Docker mode: config → stack model → compose dict and SDK arguments.
No engine needed; the integration tests run the same functions for real."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from smyth.config import load_config
from smyth.exceptions import ConfigError
from smyth.stack import compose, image
from smyth.stack.engine import container_args
from smyth.stack.logs import parse_since
from smyth.stack.model import (
    LABEL_SPEC,
    ImageSpec,
    build_model,
    default_user,
    probe,
    project_name,
    replica_label,
    worker_cpus,
)

CONFIG = """
[project]
name = "shop"
dependencies = ["requests>=2", "attrs"]

[tool.smyth]
host = "127.0.0.1"
port = 9000

[tool.smyth.handlers.orders]
handler_path = "app.orders.handler"
url_path = "/orders"
concurrency = 2
memory = 512
timeout = 6
environment = { TABLE = "orders", PRICE = "$5" }

[tool.smyth.handlers.Auth_Check]
handler_path = "app.auth.handler"
url_path = "/auth"
cpus = 1.5
fake_coldstart_time = true
"""


def load(tmp_path: Path, config: str = CONFIG, name: str = "My Shop!"):
    root = tmp_path / name
    root.mkdir()
    (root / "pyproject.toml").write_text(textwrap.dedent(config))
    return load_config(root / "pyproject.toml")


IMAGE = ImageSpec(tag="smyth-myshop:abc", context="/ctx", base_image="python:3.12-slim",
                  labels={"dev.smyth.project": "myshop"})


def test_model_has_a_gateway_and_concurrency_workers_per_handler(tmp_path):
    config = load(tmp_path)
    model = build_model(config, image=IMAGE, user="1000:1000")
    assert model.project == "myshop"
    assert [w.name for w in model.workers] == ["myshop-orders-0", "myshop-orders-1",
                                               "myshop-auth-check-0"]
    orders = model.workers[0]
    assert orders.memory_mb == 512 and orders.cpus == round(512 / 1769, 3)
    assert orders.nano_cpus == 289_000_000
    assert model.workers[2].cpus == 1.5
    assert orders.user == "1000:1000"
    assert orders.mounts[0].source == str(config.root) and orders.mounts[0].read_only
    assert orders.environment["TABLE"] == "orders"
    assert orders.environment["AWS_LAMBDA_FUNCTION_TIMEOUT"] == "6"
    assert orders.environment["LAMBDA_TASK_ROOT"] == "/var/task"
    assert "AWS_EXECUTION_ENV" not in orders.environment  # the container's own, not the host's
    assert model.workers[2].environment["SMYTH_FAKE_COLDSTART"] == "1"
    assert "SMYTH_RELOAD" not in orders.environment
    config.reload = False
    assert build_model(config, image=IMAGE, user="1:1").workers[0].environment[
        "SMYTH_RELOAD"] == "0"
    assert {k: orders.labels[k] for k in ("dev.smyth.project", "dev.smyth.role",
                                          "dev.smyth.handler", "dev.smyth.replica")} == \
        {"dev.smyth.project": "myshop", "dev.smyth.role": "worker",
         "dev.smyth.handler": "orders", "dev.smyth.replica": "0"}
    gateway = model.gateway
    assert json.loads(gateway.environment["SMYTH_WORKERS"]) == {
        "orders": ["http://orders-0:8080", "http://orders-1:8080"],
        "Auth_Check": ["http://auth-check-0:8080"]}
    assert [(p.host_ip, p.host_port, p.container_port) for p in gateway.ports] == \
        [("127.0.0.1", 9000, 8080)]
    assert gateway.memory_mb is None and "dev.smyth.handler" not in gateway.labels
    assert [replica_label(w.labels) for w in model.workers] == \
        ["orders[0]", "orders[1]", "Auth_Check"]


def test_spec_hash_changes_with_the_spec_and_only_then(tmp_path):
    config = load(tmp_path)
    first = build_model(config, image=IMAGE, user="1000:1000")
    again = build_model(config, image=IMAGE, user="1000:1000")
    assert [w.labels[LABEL_SPEC] for w in first.workers] == \
        [w.labels[LABEL_SPEC] for w in again.workers]
    config.handlers["orders"].memory = 1024
    changed = build_model(config, image=IMAGE, user="1000:1000")
    assert changed.workers[0].labels[LABEL_SPEC] != first.workers[0].labels[LABEL_SPEC]
    assert changed.workers[2].labels[LABEL_SPEC] == first.workers[2].labels[LABEL_SPEC]


def test_cpus_follow_lambdas_proportion_with_dockers_floor(tmp_path):
    config = load(tmp_path)
    handler = config.handlers["orders"]
    for memory, cpus in ((128, 0.072), (1769, 1.0), (10240, 5.789)):
        handler.memory = memory
        assert worker_cpus(handler) == cpus
    handler.cpus = 0.001
    assert worker_cpus(handler) == 0.01


def test_healthcheck_probes_are_valid_python():
    for path in ("/__/health", None):
        test = probe(path)
        assert test[:3] == ("CMD", "/opt/smyth/venv/bin/python", "-S")
        compile(test[-1], "probe", "exec")


def test_user_is_never_root():
    assert default_user(1000, 100, {}) == "1000:100"
    assert default_user(0, 0, {}) == "65534:65534"
    assert default_user(0, 0, {"SUDO_UID": "1001", "SUDO_GID": "1002"}) == "1001:1002"
    assert default_user(0, 0, {"SUDO_UID": "0", "SUDO_GID": "0"}) == "65534:65534"


def test_project_name_is_normalised_like_docker_compose_and_checked(tmp_path):
    assert project_name(load(tmp_path)) == "myshop"
    with pytest.raises(ConfigError, match="project_name"):
        project_name(load(tmp_path, CONFIG + '\n[tool.smyth.docker]\nproject_name = "!!"\n',
                          name="other"))


def test_two_handlers_on_one_container_name_is_a_config_error(tmp_path):
    config = load(tmp_path, CONFIG + """
[tool.smyth.handlers.auth-check]
handler_path = "app.auth2.handler"
url_path = "/auth2"
""")
    with pytest.raises(ConfigError, match="same container name 'auth-check-0'"):
        build_model(config, image=IMAGE, user="1:1")


def test_compose_and_sdk_arguments_say_the_same(tmp_path):
    config = load(tmp_path)
    model = build_model(config, image=IMAGE, user="1000:1000")
    services = compose.compose_dict(model)["services"]
    for spec in model.containers:
        service, args = services[spec.service], container_args(spec, model.network)
        assert service["container_name"] == args["name"] == spec.name
        assert service["image"] == args["image"]
        assert service["command"] == args["command"]
        assert service["user"] == args["user"]
        assert service["working_dir"] == args["working_dir"]
        assert service["restart"] == args["restart_policy"]["Name"]
        assert service["init"] is args["init"] is True
        assert service["labels"] == args["labels"]
        assert service["healthcheck"]["test"] == args["healthcheck"]["test"]
        assert {k: v.replace("$$", "$") for k, v in service["environment"].items()} == \
            args["environment"]
        assert service.get("mem_limit") == args.get("mem_limit")
        if "cpus" in service:  # docker-compose 1.29 computes NanoCpus as int(cpus * 1e9)
            assert int(service["cpus"] * 1e9) == args["nano_cpus"]
        assert args["networking_config"] == {model.network: {"Aliases": [spec.service]}}
    assert services["gateway"]["ports"] == ["127.0.0.1:9000:8080"]
    assert container_args(model.gateway, model.network)["ports"] == \
        {"8080/tcp": ("127.0.0.1", 9000)}


def test_compose_escapes_dollars_and_loads_back(tmp_path):
    config = load(tmp_path)
    model = build_model(config, image=IMAGE, user="1000:1000")
    text = compose.render(model, config_path="x/pyproject.toml", compose_path=".smyth/c.yaml")
    data = yaml.safe_load(text)
    env = data["services"]["orders-0"]["environment"]
    assert env["PRICE"] == "$$5" and env["AWS_LAMBDA_FUNCTION_VERSION"] == "$$LATEST"
    assert data["networks"]["smyth"] == {"name": "smyth-myshop",
                                         "labels": {"dev.smyth.project": "myshop"}}
    assert "version" not in data  # the Compose Specification: both compose generations read it


def test_any_port_and_every_interface(tmp_path):
    config = load(tmp_path)
    config.port, config.host = 0, "0.0.0.0"
    model = build_model(config, image=IMAGE, user="1:1")
    assert compose.compose_dict(model)["services"]["gateway"]["ports"] == ["8080"]
    assert container_args(model.gateway, model.network)["ports"] == {"8080/tcp": ("", None)}


def test_debug_ports_publish_one_loopback_port_per_replica(tmp_path):
    model = build_model(load(tmp_path), image=IMAGE, user="1:1", debug_ports={"orders": 5700})
    orders = model.workers_of("orders")
    assert [(p.host_ip, p.host_port, p.container_port) for w in orders for p in w.ports] == \
        [("127.0.0.1", 5700, 5678), ("127.0.0.1", 5701, 5678)]
    assert all(w.environment["SMYTH_DEBUG_PORT"] == "5678" for w in orders)
    assert not model.workers_of("Auth_Check")[0].ports


def test_requirements_come_from_the_setting_a_file_or_the_project(tmp_path):
    config = load(tmp_path)
    assert image.project_requirements(config) == "requests>=2\nattrs\n"
    (config.root / "requirements.txt").write_text("flask\n")
    assert image.project_requirements(config) == "flask\n"
    (config.root / "deps.txt").write_text("django\n")
    config.docker.requirements = "deps.txt"
    assert image.project_requirements(config) == "django\n"
    config.docker.requirements = "missing.txt"
    with pytest.raises(ConfigError, match="tool.smyth.docker.requirements"):
        image.project_requirements(config)


def test_image_tag_is_the_hash_of_its_inputs(tmp_path):
    config = load(tmp_path)
    first = image.prepare(config, "python:3.12-slim", tmp_path / "ctx")
    assert first == image.prepare(config, "python:3.12-slim", tmp_path / "ctx")
    assert first.tag.startswith("smyth-myshop:")
    assert image.prepare(config, "python:3.11-slim", tmp_path / "ctx").tag != first.tag
    (config.root / "requirements.txt").write_text("flask\n")
    assert image.prepare(config, "python:3.12-slim", tmp_path / "ctx").tag != first.tag
    context = tmp_path / "ctx"
    assert (context / "runtime" / "smyth" / "runtime" / "worker.py").is_file()
    assert not list(context.rglob("__pycache__"))
    assert not (context / "app").exists()  # the code is mounted, never copied
    servers = (context / "smyth-requirements.txt").read_text()
    assert "starlette" in servers and "debugpy" not in servers and "pytest" not in servers
    assert "debugpy" in (context / "handler-requirements.txt").read_text()


def test_no_engine_is_a_clear_error(tmp_path):
    config = load(tmp_path)
    (config.root / "app").mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "smyth", "up", "-d"], cwd=config.root, capture_output=True,
        text=True, timeout=60, check=False,
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock"})
    assert result.returncode == 1
    assert result.stderr.startswith("smyth: error: cannot reach the Docker engine")
    assert "Traceback" not in result.stderr


def test_since_accepts_durations_timestamps_and_iso_times():
    assert parse_since("10m", now=1000.0) == 400
    assert parse_since("1700000000") == 1700000000
    assert parse_since("2024-01-02T03:04:05Z").isoformat() == "2024-01-02T03:04:05+00:00"
    assert parse_since(None) is None
    with pytest.raises(ValueError, match="--since 'soon'"):
        parse_since("soon")
