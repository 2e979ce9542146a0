"""The README's settings table is what --about generates."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parent.parent


def about(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "target_sendgrid.target", "--about", *args], capture_output=True, text=True, check=True
    )


def about_settings_table() -> str:
    markdown = about("--format=markdown").stdout
    return re.search(r"## Settings\n\n(.*?)(?:\n\n|\Z)", markdown, re.S).group(1).strip()


def test_readme_settings_table_matches_about() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- settings:start -->\n(.*?)<!-- settings:end -->", readme, re.S).group(1).strip()
    assert block == about_settings_table(), "regenerate: python -m tests.test_docs"


def test_meltano_yml_declares_every_setting_with_kind_and_description() -> None:
    names = set(json.loads(about("--format=json").stdout)["settings"]["properties"])
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [loader] = [p for p in project["plugins"]["loaders"] if p["name"] == "target-sendgrid"]
    declared = {s["name"]: s for s in loader["settings"]}
    assert set(declared) == names
    assert all(s.get("kind") and s.get("description") for s in declared.values())
    assert declared["api_key"].get("sensitive") is True
    assert {"about", "stream-maps", "schema-flattening", "validate-records", "hard-delete"} <= set(
        loader["capabilities"]
    )


def test_about_never_shows_the_key(tmp_path: Path) -> None:
    key = "SG.secret-about-key"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"api_key": key, "data_privacy_consent": True}))
    for fmt in ("json", "markdown"):
        shown = about(f"--format={fmt}", "--config", str(config))
        assert "api_key" in shown.stdout
        assert key not in shown.stdout + shown.stderr


if __name__ == "__main__":  # rewrite the README's table
    path = ROOT / "README.md"
    text = re.sub(
        r"(<!-- settings:start -->\n).*?(<!-- settings:end -->)",
        lambda m: m.group(1) + about_settings_table() + "\n" + m.group(2),
        path.read_text(),
        flags=re.S,
    )
    path.write_text(text)
