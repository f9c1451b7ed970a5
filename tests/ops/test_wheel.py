"""The image installs the built wheel, not the source tree, so the wheel must carry everything the app
reads at run time: build it as the Dockerfile does, install it into a fresh virtual environment outside
the repository, migrate a database with its `tracker` command, start the app from there and fetch every
static file, a page (templates, translations) and /livez."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.workers.conftest import free_port, stop_process, wait_for

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DATA = PYPROJECT["tool"]["setuptools"]["package-data"]
# Where the app serves each static folder (web/views/portal.py and imports.py serve portal_static).
STATIC_URLS = {"web/static": ["/static"], "web/portal_static": ["/portal/static", "/imports/static"]}


def test_every_package_data_pattern_matches_files():
    # A pattern that matches nothing (alembic.ini, once) hides a file that was meant to ship, or is dead.
    for package, patterns in PACKAGE_DATA.items():
        for pattern in patterns:
            assert [p for p in (ROOT / package).glob(pattern) if p.is_file()], (
                f"{package}: {pattern} matches nothing"
            )


def test_every_static_folder_is_package_data():
    for folder in STATIC_URLS:
        package, _, sub = folder.partition("/")
        assert f"{sub}/**/*" in PACKAGE_DATA[package], f"{folder} is not in the wheel"


def _data_files() -> list[str]:
    """Every non-Python file of the three packages that the app reads at run time."""
    files = []
    for package in ("tracker", "web", "workers"):
        for path in (ROOT / package).rglob("*"):
            if (
                path.is_file()
                and path.suffix not in (".py", ".pyc", ".po", ".pot")
                and "__pycache__" not in path.parts
            ):
                files.append(str(path.relative_to(ROOT)))
    return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    # From a copy of what the Dockerfile copies: a checkout's *.egg-info (left by `pip install -e`) lists
    # every file, and setuptools would ship them all from it, hiding a gap in package-data.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("tracker", "web", "workers"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
        cwd=str(source),
    )
    (built,) = out.glob("citizen_tracker-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_holds_every_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in _data_files() if f not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]


@pytest.mark.slow
def test_the_installed_wheel_serves_every_static_file(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # The dependencies come from the project's environment, added as a plain path: its .pth files (the
    # editable install of this checkout among them) are not read, so `tracker`, `web` and `workers` can
    # only come from the wheel.
    site = next((venv / "lib").glob("python3*/site-packages"))
    project_site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(f"{project_site}\n")
    home = tmp_path / "run"
    home.mkdir()
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(home),
        "TRACKER_INSTANCE_DIR": str(home / "instance"),
        "TRACKER_SECRET_KEY": "wheel-test-secret",
        "TRACKER_PII_KEYS": os.environ["TRACKER_PII_KEYS"],
        "TRACKER_BROKER_URL": f"sqla+sqlite:///{home / 'broker.sqlite'}",
    }
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import tracker, web, workers; print(tracker.__file__, web.__file__, workers.__file__)",
        ],
        env=env,
        cwd=str(home),
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.count(str(site)) == 3, where
    # The wheel's own command, migrations and reference data.
    upgraded = subprocess.run(
        [str(venv / "bin" / "tracker"), "db", "upgrade"],
        env=env,
        cwd=str(home),
        capture_output=True,
        text=True,
    )
    assert upgraded.returncode == 0, upgraded.stderr

    port = free_port()
    server_script = home / "serve.py"
    server_script.write_text(
        "import sys\n"
        "from werkzeug.serving import make_server\n"
        "from web import create_app\n"
        f"make_server('127.0.0.1', {port}, create_app(), threaded=True).serve_forever()\n"
    )
    server = subprocess.Popen(
        [str(python), str(server_script)], env=env, cwd=str(home), start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"

    def fetch(path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def up() -> bool:
        if server.poll() is not None:
            raise AssertionError("the installed app did not start")
        try:
            return fetch("/livez")[0] == 200
        except OSError:
            return False

    try:
        wait_for(up, message="the installed app to answer")
        fetched = 0
        for folder, prefixes in STATIC_URLS.items():
            for path in sorted((ROOT / folder).rglob("*")):
                if not path.is_file():
                    continue
                for prefix in prefixes:
                    status, body = fetch(f"{prefix}/{path.relative_to(ROOT / folder).as_posix()}")
                    assert status == 200, f"{prefix}/{path.name}: {status}"
                    assert body == path.read_bytes(), f"{prefix}/{path.name} differs from the source"
                    fetched += 1
        assert fetched >= 4
        status, page = fetch("/login")
        assert status == 200 and "登录".encode() in page  # templates and the Chinese translation
    finally:
        stop_process(server)
