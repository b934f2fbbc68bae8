"""The package as users get it: the pip lock files agree with uv.lock, and a built wheel works alone."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from uv import find_uv_bin

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
UV = find_uv_bin()


def _uv(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [UV, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, f"uv {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


def _without_header(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith("#"))


@pytest.mark.parametrize(
    ("lock_file", "extra"), [("requirements.lock", []), ("requirements-dev.lock", ["--extra", "test"])]
)
def test_pip_lock_files_are_exported_from_uv_lock(lock_file: str, extra: list[str]) -> None:
    exported = _uv(
        "export", "--frozen", "--quiet", "--no-emit-project", "--format", "requirements.txt", *extra
    ).stdout
    committed = (ROOT / lock_file).read_text()
    assert _without_header(exported) == _without_header(committed), (
        f"{lock_file} is out of step with uv.lock: run .ci/lock and commit the three files"
    )


def test_uv_lock_pins_every_dependency_of_pyproject() -> None:
    _uv("lock", "--check", "--offline")


@pytest.mark.slow
def test_built_wheel_carries_its_data_and_runs_from_elsewhere(tmp_path: Path) -> None:
    source = tmp_path / "source"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)

    build = _uv(
        "build",
        "--wheel",
        "--no-build-isolation",
        "--python",
        sys.executable,
        "--out-dir",
        str(tmp_path / "dist"),
        cwd=source,
    )
    assert "SetuptoolsDeprecationWarning" not in build.stderr + build.stdout
    assert "SetuptoolsWarning" not in build.stderr + build.stdout
    (wheel,) = (tmp_path / "dist").glob("ewarn-*.whl")

    venv = tmp_path / "venv"
    _uv("venv", "--quiet", "--python", sys.executable, str(venv))
    python = str(venv / "bin" / "python")
    _uv(
        "pip", "install", "--quiet", "--no-compile", "--python", python, "-r", str(ROOT / "requirements.lock")
    )
    _uv("pip", "install", "--quiet", "--no-compile", "--no-deps", "--python", python, str(wheel))

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["EWARN_HOME"] = str(tmp_path / "home")
    ewarn = str(venv / "bin" / "ewarn")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [ewarn, *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    where = subprocess.run(
        [python, "-c", "import features, review; print(features.__file__, review.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(ROOT) not in where and str(source) not in where, where

    assert run("--help").returncode == 0
    landing = tmp_path / "landing"
    simulated = run("simulate", "--out", str(landing), "--people", "60", "--weeks", "20", "--seed", "5")
    assert simulated.returncode == 0, simulated.stdout + simulated.stderr
    checked = run("validate", str(landing))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "meets input contract v1" in checked.stdout

    # The review page from the installed copy: its template and its stylesheet are package data.
    page_check = elsewhere / "page_check.py"
    page_check.write_text(
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from review.app import create_app\n"
        "client = TestClient(create_app(f'sqlite:///{sys.argv[1]}'))\n"
        "print(client.get('/login').status_code, client.get('/static/style.css').status_code)\n"
    )
    pages = subprocess.run(
        [python, str(page_check), str(tmp_path / "flags.db")],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert pages.stdout.split() == ["200", "200"], pages.stdout + pages.stderr
