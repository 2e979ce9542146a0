"""``./scripts/export``, the README's main job, run as a new user runs it: in a fresh clone, in a new shell."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import ROOT

DEFAULT_PORT = 3030  # the script's own default: what it does when that port is someone else's is the test


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the committed code, with no virtualenv: the script installs one."""
    folder = tmp_path_factory.mktemp("export") / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(folder)], check=True)
    return folder


@contextlib.contextmanager
def port_held(port: int) -> Iterator[None]:
    """Someone else's server on ``port`` (or whoever already holds it): it accepts and answers nothing."""
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", port))
        holder.listen()
    except OSError:
        pass  # taken already, which is what the test needs
    try:
        yield
    finally:
        holder.close()


def export(clone: Path, **variables: str) -> tuple[int, list[tuple[float, str]]]:
    """Runs the script in a new shell's environment; returns its exit code and its lines, each timed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_SENDGRID_", "MELTANO_", "VIRTUAL_ENV"))}
    started = time.monotonic()
    script = subprocess.Popen(
        ["./scripts/export"],
        cwd=clone,
        env={**env, **variables},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the emulator it starts is stopped with it in any case
    )
    assert script.stdout is not None
    lines = [(time.monotonic() - started, line.rstrip("\n")) for line in script.stdout]
    try:
        code = script.wait(timeout=900)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(script.pid, 9)
    return code, lines


@pytest.mark.slow
def test_a_fresh_clone_says_what_it_does_and_never_talks_to_a_stranger_on_its_port(clone: Path) -> None:
    with port_held(DEFAULT_PORT):
        code, lines = export(clone, TARGET_SENDGRID_SEGMENTS='["nosuch"]')
    shown = "\n".join(line for _, line in lines)
    assert code == 0, shown[-3000:]
    # The first line comes before the install that takes most of a first run (a generous margin for
    # a loaded machine: the install alone takes tens of seconds).
    first_at, first = lines[0]
    assert first.startswith("Installing target-sendgrid and Meltano into .venv"), shown[:500]
    assert first_at < min(10.0, lines[-1][0] / 2)
    [url] = re.findall(r"SendGrid emulator listening on (http://127\.0\.0\.1:\d+)", shown)
    assert not url.endswith(f":{DEFAULT_PORT}")
    # Meltano's warning lines reach the terminal, and the whole log is kept.
    assert re.search(r"\[warning *\] target-sendgrid The segments \['nosuch'\] matched no record", shown), shown[-3000:]
    log = (clone / "output" / "export.log").read_text()
    assert "Export finished" in log and "matched no record" in log


@pytest.mark.slow
def test_a_taken_port_the_user_chose_stops_the_script_before_the_export(clone: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.listen()
        code, lines = export(clone, TARGET_SENDGRID_API_URL=f"http://127.0.0.1:{port}")
    shown = "\n".join(line for _, line in lines)
    assert code == 1
    assert f"Port {port} is taken: choose another with TARGET_SENDGRID_API_URL=http://127.0.0.1:<port>" in shown
    assert "Exporting" not in shown


@pytest.mark.slow
def test_the_main_job_exports_the_sample_and_a_second_run_resumes(clone: Path) -> None:
    code, lines = export(clone)
    shown = "\n".join(line for _, line in lines)
    assert code == 0, shown[-3000:]
    [exported] = re.findall(r"Contacts exported: (\d+) to list 'Sample segments'", shown)
    assert int(exported) > 0
    assert "Export finished" in shown
    again_code, again = export(clone)
    shown_again = "\n".join(line for _, line in again)
    assert again_code == 0, shown_again[-3000:]
    assert '"created": 0' in shown_again  # the emulator kept its contacts in output/, as SendGrid would


@pytest.mark.slow
def test_a_tap_that_fails_part_way_fails_the_script(clone: Path, tmp_path: Path) -> None:
    # tap-jsonl samples the first 1,000 lines to discover the schema, then fails on a line that is not
    # UTF-8 after them: the target's input ends normally, but the run did not finish.
    lines = (ROOT / "sample" / "profiles.jsonl").read_bytes().splitlines(keepends=True)
    broken = tmp_path / "profiles.jsonl"
    broken.write_bytes(b"".join([*lines[:1200], b'{"email": "\xff\xfe"}\n', *lines[1200:]]))
    code, lines_shown = export(clone, TAP_JSONL_PATH=str(broken))
    shown = "\n".join(line for _, line in lines_shown)
    assert code == 1, shown[-3000:]
    assert "The export failed (meltano run exited 1)" in shown
    assert re.search(r"[A-Za-z]+Error: ", shown), shown[-3000:]  # the tap's own error reaches the terminal
