"""SNS speaks only the query/XML protocol; lists are <member>, maps <entry><key/><value/>."""

from services.awsapi.server import ServiceSpec

SPEC = ServiceSpec(
    signing_name="sns",
    xmlns="http://sns.amazonaws.com/doc/2010-03-31/",
    anonymous_actions=frozenset({"ConfirmSubscription", "Unsubscribe"}),
)
