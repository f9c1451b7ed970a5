"""A new bureau starts from an empty database with nothing but the README: run the commands of its "First
start of a production database" block — read from README.md, so the test fails when the README drifts —
then sign in as the administrator they created, through the new password and the authenticator, to the
home page. The docker-compose instructions (README, docs/operations.md) must run the same commands."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.second_factor import complete_second_factor
from tracker.cli.main import main
from tracker.config import Settings
from tracker.db import session_scope
from tracker.people.models import AuditEntry, Department
from tracker.pii.cipher import active, using

ROOT = Path(__file__).resolve().parents[2]
MARKER = "<!-- tests/ops/test_bootstrap.py runs the commands of the next block"
FIRST_PASSWORD = "Bootstrap-Pass-2026"
NEW_PASSWORD = "Changed-At-Sign-In-7"


@pytest.fixture(autouse=True)
def _keyring_restored():
    """This module's commands load their own personal-data key (the README's key file), which becomes the
    process's keyring: the suite's key is put back afterwards, so later tests read what they write."""
    with using(active()):
        yield


def _commands(text: str) -> list[list[str]]:
    """The arguments of the `tracker …` commands of the fenced block after the marker."""
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    return [
        shlex.split(line, comments=True)[1:] for line in block.splitlines() if line.startswith("tracker ")
    ]


def _compose_commands(text: str) -> list[list[str]]:
    """The bootstrap commands (departments, users) of a document's docker-compose instructions."""
    head = "docker compose run --rm web tracker "
    found = [shlex.split(line, comments=True)[6:] for line in text.splitlines() if line.startswith(head)]
    return [c for c in found if c[0] in ("department", "user")]


def test_the_readme_bootstrap_reaches_a_signed_in_administrator(blank_database_url, tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = _commands(readme)
    assert commands[0] == ["db", "upgrade"] and any(c[:2] == ["user", "create"] for c in commands)
    env = {
        "TRACKER_DATABASE_URL": blank_database_url,
        "TRACKER_INSTANCE_DIR": str(tmp_path / "instance"),
        "TRACKER_SECRET_KEY": "bootstrap-test-secret",
        "TRACKER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
    }
    runner = CliRunner()
    # The personal-data key, made as the README's prose says: `tracker keys new > FILE`.
    made = runner.invoke(main, ["keys", "new"], env=env)
    assert made.exit_code == 0, made.output
    key_file = tmp_path / "pii_keys"
    key_file.write_text(made.output)
    key_file.chmod(0o600)
    env["TRACKER_PII_KEYS_FILE"] = str(key_file)
    env["TRACKER_PII_KEYS"] = None  # the suite's own key (tests/conftest.py) is not the README's
    assert "TRACKER_PII_KEYS_FILE" in readme.split("## First start of a production database", 1)[1][:800]
    username = None
    for args in commands:
        typed = None
        if args[:2] == ["user", "create"]:
            typed = f"{FIRST_PASSWORD}\n{FIRST_PASSWORD}\n"  # the prompt, twice
            username = args[args.index("--username") + 1]
        result = runner.invoke(main, args, input=typed, env=env)
        assert result.exit_code == 0, f"tracker {' '.join(args)}: {result.output}"
        if args == ["db", "upgrade"]:
            # An empty database is told what happened to it, not that it "is already up to date".
            assert "已在空数据库上创建全部数据表" in result.output and "已是最新" not in result.output
    assert username

    with session_scope(blank_database_url) as session:
        created = session.scalars(select(AuditEntry.action).where(AuditEntry.action == "department.created"))
        assert len(list(created)) == len([c for c in commands if c[:2] == ["department", "create"]])
        assert session.scalar(select(Department).where(Department.parent_id.is_(None))) is not None

    from web import create_app

    settings = Settings.from_env(env)
    client = create_app({"TESTING": True}, settings=settings).test_client()

    def csrf(path: str) -> str:
        page = client.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    response = client.post(
        "/login", data={"username": username, "password": FIRST_PASSWORD, "csrf_token": csrf("/login")}
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    # The first sign-in: a new password (chosen by someone else), then the administrator's second factor,
    # in whichever order the app asks for them.
    for _ in range(6):
        if response.status_code != 302:  # a page (the recovery codes after enrolment): go home again
            response = client.get("/")
            if response.status_code == 200:
                break
        location = response.headers.get("Location", "")
        if location.endswith("/password"):
            response = client.post(
                "/password",
                data={
                    "old_password": FIRST_PASSWORD,
                    "new_password": NEW_PASSWORD,
                    "confirm_password": NEW_PASSWORD,
                    "csrf_token": csrf("/password"),
                },
            )
            assert response.status_code == 302, response.get_data(as_text=True)
        elif location.endswith(("/login/enrol", "/login/verify")):
            response = complete_second_factor(client, response, username)
        else:
            response = client.get(location)
    home = client.get("/")
    assert home.status_code == 200, home.headers.get("Location")
    assert "系统管理" in home.get_data(as_text=True)  # signed in as the administrator


def test_the_compose_instructions_run_the_same_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    wanted = [c for c in _commands(readme) if c != ["db", "upgrade"]]  # the compose migrate service's job
    for doc in (readme, (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")):
        assert _compose_commands(doc) == wanted


def test_db_upgrade_says_what_it_did(blank_database_url, tmp_path):
    env = {"TRACKER_DATABASE_URL": blank_database_url, "TRACKER_INSTANCE_DIR": str(tmp_path)}
    runner = CliRunner()
    first = runner.invoke(main, ["db", "upgrade"], env=env)
    assert first.exit_code == 0 and "已在空数据库上创建全部数据表" in first.output
    again = runner.invoke(main, ["db", "upgrade"], env=env)
    assert again.exit_code == 0 and "数据库已是最新结构" in again.output and "未做改动" in again.output


def test_make_run_takes_host_port_and_instance(tmp_path):
    import shutil
    import subprocess

    make = shutil.which("make")
    assert make, "make is needed for `make run`"
    instance = tmp_path / "demo instance"

    def planned(*variables: str) -> list[str]:
        out = subprocess.run(
            [make, "-n", "run", *variables], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        return [line for line in out.splitlines() if "tracker " in line and "TRACKER_INSTANCE_DIR=" in line]

    default = planned()
    assert default[-1].endswith("tracker run --host 127.0.0.1 --port 5000")
    assert all(line.startswith('TRACKER_INSTANCE_DIR="instance" ') for line in default)
    chosen = planned("HOST=0.0.0.0", "PORT=8080", f"INSTANCE={instance}")
    assert chosen[-1].endswith("tracker run --host 0.0.0.0 --port 8080")
    assert len(chosen) == 3 and all(f'TRACKER_INSTANCE_DIR="{instance}" ' in line for line in chosen)
