"""Pulumi mocks for the component tests: a fresh RecordingMocks for each test module, installed
before its fixtures build anything, as the module's MOCKS."""

import pulumi
import pytest

from tests.support.pulumi_mocks import RecordingMocks


@pytest.fixture(scope="module", autouse=True)
def pulumi_mocks(request):
    mocks = RecordingMocks()
    pulumi.runtime.set_mocks(mocks, project="mammatus", stack="dev", preview=False)
    if hasattr(request.module, "MOCKS"):
        request.module.MOCKS = mocks
    yield mocks
