"""Typed specification of one Mammatus cloud (one Pulumi stack).

Field names are the stack config keys without the `mammatus:` namespace, in camelCase as Pulumi
config writes them (`mammatus:runDir`). Later layers add their own sections here.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field, field_validator


class StackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    run_dir: str = Field(
        alias="runDir",
        description="Directory on the machine running Pulumi where the stack keeps local state "
                    "(the admin public key; in the dev stack, the hosts' file roots).")

    @field_validator("run_dir")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value) or os.path.normpath(value) == "/":
            raise ValueError(f"must be an absolute path other than /, got {value!r}")
        return os.path.normpath(value)
