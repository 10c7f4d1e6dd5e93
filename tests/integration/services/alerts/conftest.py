from tests.integration.services.sns.conftest import sns_service, test_ca  # noqa: F401
from tests.integration.services.sqs.conftest import nats_server, sqs_service  # noqa: F401
