"""The repository's Meltano project, copied to a temporary folder so that tests leave the clone as they found it.

The copy is the committed ``meltano.yml`` with one change: the loader's ``pip_url: -e .`` points at this
checkout. ``sample/`` is linked, read only; ``.meltano/``, ``output/`` and the state database stay in the
copy. :func:`meltano_project` installs its plugins once per test session.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.support import ROOT, meltano


@dataclass(frozen=True)
class MeltanoProject:
    """A Meltano project in a temporary folder, its plugins installed."""

    root: Path
    executable: str

    def env(self, **variables: str) -> dict[str, str]:
        """The environment of a run: this shell's, without settings a developer may have exported."""
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(("TARGET_SENDGRID_", "MELTANO_"))}
        return {**inherited, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **variables}

    def command(self, *args: str) -> list[str]:
        """``meltano <args>`` in this project (the caller runs it, with :meth:`env`)."""
        return [self.executable, "--cwd", str(self.root), *args]

    def run(self, env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Runs ``meltano <args>`` to its end; fails the test on a non-zero exit, showing Meltano's log."""
        done = subprocess.run(self.command(*args), env=env, capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stderr[-3000:]
        return done

    def plugin_executable(self, kind: str, name: str) -> Path:
        """Where Meltano installed a plugin's command (``kind`` is ``extractors`` or ``loaders``)."""
        return self.root / ".meltano" / kind / name / "venv" / "bin" / name


def make_project(folder: Path) -> MeltanoProject:
    """Copies the repository's Meltano project into ``folder`` and installs its plugins."""
    definition = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for loader in definition["plugins"]["loaders"]:
        if loader.get("pip_url") == "-e .":
            loader["pip_url"] = f"-e {ROOT}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "meltano.yml").write_text(yaml.safe_dump(definition, sort_keys=False))
    (folder / "sample").symlink_to(ROOT / "sample")
    project = MeltanoProject(folder, meltano())
    project.run(project.env(), "install")
    return project
