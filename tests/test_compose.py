"""The production shape (docker-compose.yml, the Dockerfile, deploy/) without a Docker engine:
the compose file is read as compose reads it — services, commands that exist, settings the
reader knows, secrets that must be given, scalable workers, PostgreSQL and Redis with
volumes and health checks — and then each service's own command runs here as a real
process, against a private PostgreSQL database and the tests' redis-server, and must reach
ready (tests/stack.py runs the processes)."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import free_port
from moderation import fleet
from moderation.settings import SECRETS, MissingSetting, Settings
from stack import (COMPOSE, EXAMPLES, ROOT, SERVICES, Processes, compose_env, fetch, host_argv, private_postgres,
                   read_env_file, render_nginx, service_argv, service_env, wait_for)

APP_SERVICES = ("web", "migrate", "spam", "toxicity", "callbacks", "scheduler")
WORKERS = ("spam", "toxicity", "callbacks", "scheduler")
SETTING_NAMES = {f"MODERATION_{name.upper()}" for name in Settings.__dataclass_fields__}
def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def test_every_process_of_the_production_shape_is_a_service():
    assert set(SERVICES) == {"nginx", *APP_SERVICES, "postgres", "redis"}


def test_worker_commands_are_roles_that_python_m_workers_accepts():
    shown = subprocess.run([sys.executable, "-m", "workers", "--help"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout
    roles = set(re.search(r"\{([a-z,]+)\}", shown).group(1).split(","))
    for name in WORKERS:
        python, module, workers, role = SERVICES[name]["command"]
        assert (python, module, workers) == ("python", "-m", "workers"), name
        assert role in roles, f"{name}: `python -m workers {role}` is not a role ({sorted(roles)})"
    assert SERVICES["scheduler"]["command"][-1] == "scheduler"


def test_flask_commands_exist(tmp_path):
    command = SERVICES["migrate"]["command"]
    assert command[:3] == ["flask", "--app", "moderation"]
    shown = subprocess.run(host_argv(["flask", "--app", "moderation", "--help"]), cwd=ROOT, capture_output=True,
                           text=True, env=compose_env(), check=True).stdout
    listed = set(re.findall(r"^  ([a-z][a-z-]+)\s", shown, re.M))
    assert command[3] in listed, f"`flask {command[3]}` is not a command ({sorted(listed)})"


def test_web_runs_gunicorn_with_a_config_that_loads_the_app():
    command = SERVICES["web"]["command"]
    assert command[:2] == ["gunicorn", "-c"] and (ROOT / command[2]).is_file()
    checked = subprocess.run(host_argv([*command, "--check-config"]), cwd=ROOT, capture_output=True, text=True,
                             env=compose_env())
    assert checked.returncode == 0, checked.stdout + checked.stderr  # imports the config and loads the app


def test_every_moderation_variable_is_a_setting_and_every_secret_is_asked_for():
    named = set(re.findall(r"MODERATION_[A-Z0-9_]+", (ROOT / "docker-compose.yml").read_text()))
    for example in EXAMPLES.values():
        named |= set(re.findall(r"MODERATION_[A-Z0-9_]+", example.read_text()))
    assert named - SETTING_NAMES == set(), "names the settings reader does not know"
    production = read_env_file(EXAMPLES["deploy/production.env"])
    required = {f"MODERATION_{name.upper()}" for name in SECRETS} | {"MODERATION_DATABASE_URL"}
    assert required <= set(production)
    assert read_env_file(EXAMPLES["deploy/postgres.env"]) == {"POSTGRES_PASSWORD": ""}
    assert all(value == "" for value in production.values()), "no default secret, no default password"


def test_the_unfilled_example_stops_the_migration_naming_the_missing_secrets():
    unfilled = read_env_file(EXAMPLES["deploy/production.env"])
    with pytest.raises(MissingSetting):
        Settings.from_env(unfilled)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MODERATION_")}, **unfilled}
    refused = subprocess.run(service_argv("migrate"), cwd=ROOT, capture_output=True, text=True, env=env)
    assert refused.returncode != 0  # and then compose starts nothing else
    for name in SECRETS:
        assert f"MODERATION_{name.upper()}" in refused.stderr.splitlines()[-1]


def test_settings_come_from_env_files_that_have_examples():
    for name in APP_SERVICES:
        assert as_list(SERVICES[name]["env_file"]) == ["deploy/production.env"], name
    assert as_list(SERVICES["postgres"]["env_file"]) == ["deploy/postgres.env"]
    assert "POSTGRES_PASSWORD" not in json.dumps(SERVICES["postgres"].get("environment", {}))


def test_workers_and_web_can_be_scaled_and_only_nginx_is_published():
    for name in (*APP_SERVICES, "postgres", "redis"):
        assert "container_name" not in SERVICES[name], name
        assert "ports" not in SERVICES[name], f"{name} publishes a port"
    assert SERVICES["nginx"]["ports"]
    assert "/etc/nginx/conf.d/default.conf" in " ".join(SERVICES["nginx"]["volumes"])


def test_postgres_and_redis_keep_their_data_and_report_health():
    for name in ("postgres", "redis"):
        service = SERVICES[name]
        volume = service["volumes"][0].split(":")[0]
        assert volume in COMPOSE["volumes"], f"{name}: data on a named volume"
        assert service["healthcheck"]["test"], name
    assert "--appendonly" in SERVICES["redis"]["command"]
    assert SERVICES["redis"]["command"][SERVICES["redis"]["command"].index("--appendonly") + 1] == "yes"


def test_everything_waits_for_the_migration_and_the_proxy_for_a_healthy_web():
    for name in ("web", *WORKERS):
        assert SERVICES[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
    assert SERVICES["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert SERVICES["migrate"]["restart"] == "no"
    assert SERVICES["nginx"]["depends_on"]["web"] == {"condition": "service_healthy"}
    assert "/healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])


def test_the_image_runs_as_a_user_and_holds_code_and_models_but_no_secret():
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert any(line == "RUN pip install -r requirements.txt" for line in lines)
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    copied = {line.split()[1].rstrip("/") for line in lines if line.startswith("COPY ")}
    assert {"requirements.txt", "alembic.ini", "migrations", "moderation", "workers", "models",
            "deploy/gunicorn.conf.py"} <= copied
    assert not {path for path in copied if path in (".", "deploy") or path.endswith(".env")}


def test_nginx_accepts_its_config(tmp_path):
    if not shutil.which("nginx"):
        pytest.skip("nginx is not installed here (docker-compose.yml runs the nginx image)")
    main = render_nginx(tmp_path, f"127.0.0.1:{free_port()}", free_port())
    checked = subprocess.run(["nginx", "-t", "-p", str(tmp_path), "-c", str(main)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


# -- each service's command, run here -------------------------------------------------------


def test_each_service_starts_and_reaches_ready(tmp_path, redis_server, redis):
    with private_postgres("saring_compose") as database_url, Processes(tmp_path) as processes:
        env = compose_env(MODERATION_DATABASE_URL=database_url, MODERATION_REDIS_URL=redis_server.url)

        migrate = processes.run("migrate", service_argv("migrate"), service_env("migrate", env, tmp_path))
        assert migrate.returncode == 0, processes.tail("migrate")
        assert "up to date" in processes.tail("migrate")

        port = free_port()
        web_env = {**service_env("web", env, tmp_path), "GUNICORN_CMD_ARGS": f"--bind 127.0.0.1:{port}"}
        processes.start("web", service_argv("web"), web_env)
        base = f"http://127.0.0.1:{port}"
        if shutil.which("nginx"):  # as compose runs it: clients reach gunicorn through nginx only
            proxy = free_port()
            main = render_nginx(tmp_path / "nginx", f"127.0.0.1:{port}", proxy)
            processes.start("nginx", ["nginx", "-p", str(tmp_path / "nginx"), "-c", str(main)], env)
            base = f"http://127.0.0.1:{proxy}"
        for name in WORKERS:
            processes.start(name, service_argv(name), service_env(name, env, tmp_path))

        ready = processes.wait_until_ready(base, timeout=120)
        assert {queue for queue, state in ready["workers"]["queues"].items() if state["live"]} == set(fleet.QUEUES)
        assert all(ready["workers"]["queues"][check]["models"] for check in ("spam", "toxicity"))
        assert ready["migrations"]["ok"] and ready["database"]["ok"] and ready["redis"]["ok"]
        assert fetch(base + "/healthz")[0] == 200
        wait_for(lambda: fleet.last_sweep(redis) is not None, 30, "the scheduler never swept")
        for line in processes.tail("web", 1000).splitlines():  # the web process logs JSON lines only
            assert isinstance(json.loads(line), dict), line

        for name in reversed(processes.names()):  # `docker compose stop`: SIGTERM, and a clean exit
            assert processes.stop(name) == 0, processes.tail(name)


# -- helpers ---------------------------------------------------------------------------------


