"""Mammatus: the cloud of the selected stack (dev, lab, home)."""

import pulumi

from components.cloud import MammatusCloud
from stacks.load import SpecError, load_stack_spec

try:
    spec = load_stack_spec()  # validated before any resource is registered
except SpecError as err:
    raise pulumi.RunError(str(err)) from None

MammatusCloud(pulumi.get_stack(), spec).export()
