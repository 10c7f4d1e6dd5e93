"""Load the access keys a service accepts from an aws-cli style INI file.

Every section ("[default]", "[profile x]", "[x]") with both aws_access_key_id and
aws_secret_access_key contributes one key pair.
"""

from __future__ import annotations

import configparser
from pathlib import Path


def load_credentials(path: str | Path) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    keys: dict[str, str] = {}
    for section in parser.sections():
        akid = parser.get(section, "aws_access_key_id", fallback="").strip()
        secret = parser.get(section, "aws_secret_access_key", fallback="").strip()
        if akid and secret:
            keys[akid] = secret
    if not keys:
        raise ValueError(f"no access keys in {path}")
    return keys
