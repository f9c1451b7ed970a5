"""docker-compose.yml and the Dockerfile, checked statically (no Docker engine here): the web port on
127.0.0.1 only, secrets from files, Redis with a password, rotated logs, pinned images, healthchecks that
check their own container, exactly one beat, every queue consumed; an image built from the wheel and
the hash-checked lock, running as an unprivileged user."""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from tracker.config import SECRET_VARS, Settings
from tracker.ops.runner import worker_command
from workers.celery_app import make_celery
from workers.queues import QUEUES, TASK_ROUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
TRACKER_SERVICES = [name for name, s in SERVICES.items() if s.get("image", "").startswith("citizen-tracker")]
LONG_RUNNING = [name for name in SERVICES if name != "migrate"]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# A release, not a moving tag: x.y.z (PostgreSQL numbers its releases major.minor), with an optional
# variant (-slim-bookworm); never `latest`, `16` or `7`.
PINNED = re.compile(r"^(postgres:\d+\.\d+|[a-z0-9./-]+:\d+\.\d+\.\d+)(-[a-z0-9.]+)*$")


def _option(command: list[str], name: str) -> str | None:
    for arg in command:
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
    return None


def test_only_the_web_port_is_published_and_only_on_this_host():
    published = {name: s["ports"] for name, s in SERVICES.items() if s.get("ports")}
    assert set(published) == {"web"}
    for port in published["web"]:
        assert str(port).startswith("127.0.0.1:"), f"web publishes {port} beyond this host"


def test_every_image_is_pinned_to_a_full_version():
    for name, service in SERVICES.items():
        assert PINNED.match(service["image"]), f"{name}: {service['image']} is not pinned to x.y.z"
    assert {SERVICES[n]["image"] for n in TRACKER_SERVICES} == {f"citizen-tracker:{VERSION}"}
    assert set(TRACKER_SERVICES) == {"migrate", "web", "worker", "worker-bulk", "beat"}


def test_secrets_come_from_files_never_from_the_environment():
    declared = COMPOSE["secrets"]
    for name, secret in declared.items():
        assert secret["file"].startswith("./secrets/"), name
    env = COMPOSE["x-tracker-env"]
    for service_name in TRACKER_SERVICES:
        service = SERVICES[service_name]
        mounted = set(service["secrets"])
        for var in SECRET_VARS:
            path = service["environment"][f"{var}_FILE"]
            assert path.removeprefix("/run/secrets/") in mounted, f"{service_name}: {path} is not mounted"
            assert var not in service["environment"]
    # The URLs carry no password: it is put in from the secret file.
    assert "@postgres:" in env["TRACKER_DATABASE_URL"] and ":${" not in env["TRACKER_DATABASE_URL"]
    postgres = SERVICES["postgres"]
    assert postgres["environment"]["POSTGRES_PASSWORD_FILE"] == "/run/secrets/postgres_password"
    assert "POSTGRES_PASSWORD" not in postgres["environment"]
    # No value anywhere interpolates a password from .env.
    assert "PASSWORD:" not in (ROOT / "docker-compose.yml").read_text().replace("_FILE:", "")


def test_the_compose_secret_files_are_what_the_settings_read(tmp_path):
    # The same *_FILE variables and the same URLs, with files standing in for /run/secrets/.
    env = {k: v for k, v in COMPOSE["x-tracker-env"].items() if "${" not in str(v)}
    for key, value in list(env.items()):
        if key.endswith("_FILE"):
            path = tmp_path / Path(value).name
            secret = {"postgres_password": "pg p@ss/word", "redis_password": "redis-secret"}.get(
                path.name, ""
            )
            path.write_text(secret + ("\n" if secret else ""))
            env[key] = str(path)
    (tmp_path / "secret_key").write_text("k" * 48 + "\n")
    # The personal-data keys: a key list, one entry a line (tracker.pii.keys), required with PostgreSQL.
    (tmp_path / "pii_keys").write_text(os.environ["TRACKER_PII_KEYS"].replace(",", "\n") + "\n")
    env["TRACKER_INSTANCE_DIR"] = str(tmp_path / "instance")
    settings = Settings.from_env(env)
    assert settings.database_url == "postgresql+psycopg://tracker:pg%20p%40ss%2Fword@postgres:5432/tracker"
    assert settings.broker_url == "redis://:redis-secret@redis:6379/0"
    assert settings.secret_key == "k" * 48
    assert settings.pii_keyring is not None and settings.pii_keyring.current.kid == "test2"
    # The optional ones, left empty, leave their features off.
    assert settings.smtp_password is None and settings.metrics_token is None and settings.sentry_dsn is None


def test_redis_requires_the_password_and_its_healthcheck_uses_it():
    redis = SERVICES["redis"]
    command = " ".join(redis["command"])
    assert "--requirepass" in command and "/run/secrets/redis_password" in command
    assert redis["secrets"] == ["redis_password"]
    assert "/run/secrets/redis_password" in " ".join(redis["healthcheck"]["test"])


def test_every_log_is_rotated():
    for name, service in SERVICES.items():
        logging = service.get("logging")
        assert logging and logging["driver"] == "json-file", f"{name} keeps its log forever"
        assert (
            re.fullmatch(r"\d+m", logging["options"]["max-size"]) and int(logging["options"]["max-file"]) >= 2
        )


def test_every_long_running_service_has_a_healthcheck_of_its_own():
    for name in LONG_RUNNING:
        assert "healthcheck" in SERVICES[name], f"{name} has no healthcheck"
    web = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "127.0.0.1:8000/livez" in web
    for name in ("worker", "worker-bulk"):
        service = SERVICES[name]
        node = _option(service["command"], "--hostname")
        assert node and node.endswith("@%h"), f"{name}: the worker's node name must include the host name"
        (check,) = [part for part in service["healthcheck"]["test"] if "inspect ping" in part]
        args = shlex.split(check)
        destination = args[args.index("--destination") + 1]
        # $$ is compose's escape: the container's shell expands $HOSTNAME, the host of %h.
        assert destination == node.replace("%h", "$$HOSTNAME"), f"{name} pings {destination}, not itself"
    names = [_option(SERVICES[n]["command"], "--hostname").split("@")[0] for n in ("worker", "worker-bulk")]
    assert len(set(names)) == len(names)
    beat_check = SERVICES["beat"]["healthcheck"]["test"]
    assert beat_check[1:] == ["tracker", "health", "--process", "beat"]


def test_the_healthcheck_commands_exist():
    from click.testing import CliRunner

    from tracker.cli.main import main

    result = CliRunner().invoke(main, ["health", "--help"])
    assert result.exit_code == 0 and "--process" in result.output


def test_exactly_one_beat_with_no_shared_pid_file():
    beats = [name for name, s in SERVICES.items() if "beat" in (s.get("command") or [])]
    assert beats == ["beat"]
    assert SERVICES["beat"]["deploy"]["replicas"] == 1
    assert "--pidfile" not in " ".join(SERVICES["beat"]["command"])  # a scaled beat would share it


def test_the_workers_together_consume_every_queue_and_each_once():
    consumed = []
    for name in ("worker", "worker-bulk"):
        consumed += _option(SERVICES[name]["command"], "--queues").split(",")
    assert sorted(consumed) == sorted(QUEUES)
    assert "imports" in _option(SERVICES["worker-bulk"]["command"], "--queues")


def test_tracker_run_consumes_every_queue(tmp_path):
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_SECRET_KEY": "k",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    assert sorted(_option(worker_command(settings), "--queues").split(",")) == sorted(QUEUES)


def test_tasks_go_to_their_queues(tmp_path):
    settings = Settings.from_env(
        {
            "TRACKER_INSTANCE_DIR": str(tmp_path),
            "TRACKER_SECRET_KEY": "k",
            "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        }
    )
    app = make_celery(settings)
    app.loader.import_default_modules()
    routed = {name: app.amqp.router.route({}, name)["queue"].name for name in app.tasks if "." in name}
    assert routed["intake.import_batch"] == routed["reports.prepare_previous_year"] == "imports"
    assert routed["events.handle"] == "events"
    assert routed["reminders.sweep"] == routed["reminders.digest"] == "reminders"
    assert routed["deliveries.send"] == "deliveries"
    assert routed["outbox.relay"] == routed["system.heartbeat"] == "celery"
    # No task is routed to a queue nobody consumes.
    assert set(routed.values()) <= set(QUEUES)
    assert {route["queue"] for route in TASK_ROUTES.values()} <= set(QUEUES)
    assert app.conf.worker_cancel_long_running_tasks_on_connection_loss is True


# The Dockerfile, read instruction by instruction.
def _stages() -> list[list[tuple[str, str]]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def test_the_image_installs_the_wheel_and_the_locked_dependencies_only():
    build, final = _stages()
    build_runs = " ".join(rest for i, rest in build if i == "RUN")
    assert "--require-hashes -r requirements-build.lock" in build_runs
    assert "build --wheel" in build_runs
    copies = [rest for i, rest in final if i == "COPY"]
    for source in ("tracker", "web", "workers", "."):
        assert not any(c.split()[0] == source for c in copies), (
            f"the final image copies the source tree: {copies}"
        )
    assert any(c.startswith("--from=") for c in copies)
    runs = " ".join(rest for i, rest in final if i == "RUN")
    assert "pip install --require-hashes --no-deps -r /tmp/requirements.lock" in runs
    assert re.search(r"pip install --no-deps /tmp/dist/\*\.whl", runs)


def test_the_image_runs_as_an_unprivileged_user_with_a_healthcheck_and_a_mirror_argument():
    text = (ROOT / "Dockerfile").read_text()
    build, final = _stages()
    users = [rest for i, rest in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(i == "HEALTHCHECK" and "/livez" in rest for i, rest in final)
    for stage in (build, final):
        assert ("ARG", "PIP_INDEX_URL=https://pypi.org/simple") in stage
    base = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.M).group(1)
    assert PINNED.match(base), base
    ignored = (ROOT / ".dockerignore").read_text().split()
    for never in ("secrets", ".env", ".venv", ".git", "instance"):
        assert never in ignored, f"{never} would be sent to the Docker daemon"


@pytest.mark.parametrize("path", ["requirements.lock", "requirements-build.lock"])
def test_the_lock_files_the_image_uses_exist(path):
    assert (ROOT / path).is_file()
