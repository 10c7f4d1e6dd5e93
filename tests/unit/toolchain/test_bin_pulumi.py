"""bin/pulumi gives the public dev passphrase to the dev stack alone: never to a lab or home
stack, whether the command names it with --stack, as `stack init home`, or by selection."""

import os
import shutil
import subprocess

import pytest

from tests.support.paths import ROOT

FAKE_CLI = """#!/bin/sh
if [ "$1 $2" = "stack --show-name" ]; then
  [ -n "$FAKE_SELECTED" ] && echo "$FAKE_SELECTED" && exit 0
  echo "error: no stack selected" >&2; exit 255
fi
echo "passphrase=${PULUMI_CONFIG_PASSPHRASE:-}"
"""


@pytest.fixture
def wrapper(tmp_path):
    (tmp_path / "bin").mkdir()
    shutil.copy(ROOT / "bin" / "pulumi", tmp_path / "bin" / "pulumi")
    cli = tmp_path / ".tools" / "bin" / "pulumi"
    cli.parent.mkdir(parents=True)
    cli.write_text(FAKE_CLI)
    cli.chmod(0o755)

    def run(*args: str, selected: str = "", **env: str) -> str:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
        out = subprocess.run([str(tmp_path / "bin" / "pulumi"), *args], capture_output=True,
                             text=True, check=True,
                             env={**clean, "FAKE_SELECTED": selected, **env}).stdout
        return out.strip().removeprefix("passphrase=")
    return run


@pytest.mark.parametrize("args, selected, expected", [
    (("up", "--stack", "dev"), "", "mammatus-dev"),
    (("up", "--stack=dev"), "home", "mammatus-dev"),
    (("preview", "-s", "home"), "dev", ""),
    (("stack", "init", "home"), "dev", ""),      # the new stack, not the selected one
    (("stack", "init", "dev"), "", "mammatus-dev"),
    (("stack", "select", "lab"), "dev", ""),
    (("stack", "select", "--create", "dev"), "", "mammatus-dev"),   # what `make up` runs
    (("stack", "init", "--secrets-provider", "passphrase", "home"), "dev", ""),
    (("up",), "dev", "mammatus-dev"),
    (("up",), "home", ""),
    (("up",), "", ""),                            # nothing selected: nothing given
])
def test_only_the_dev_stack_gets_the_dev_passphrase(wrapper, args, selected, expected):
    assert wrapper(*args, selected=selected) == expected


def test_a_passphrase_of_the_users_own_is_left_alone(wrapper):
    assert wrapper("up", "--stack", "dev", PULUMI_CONFIG_PASSPHRASE="mine") == "mine"
