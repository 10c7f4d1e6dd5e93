"""AWS errors as one exception type, rendered per protocol by services.awsapi.protocol."""

from __future__ import annotations


class AwsError(Exception):
    """An error a client sees as AWS would send it.

    code: the JSON protocol's __type (and the query protocol's Code unless query_code is set).
    query_code: the legacy query error code (SQS sends it in x-amzn-query-error for JSON too).
    """

    def __init__(self, code: str, message: str = "", status: int = 400,
                 query_code: str | None = None, sender: bool = True):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.query_code = query_code or code
        self.fault = "Sender" if sender else "Receiver"


def missing_parameter(name: str) -> AwsError:
    return AwsError("MissingParameter", f"The request must contain the parameter {name}.")


def invalid_parameter(message: str) -> AwsError:
    return AwsError("InvalidParameterValue", message)


def internal_error() -> AwsError:
    return AwsError("InternalFailure", "The request processing has failed because of an unknown error.",
                    status=500, sender=False)


def service_unavailable() -> AwsError:
    """NATS did not answer in time (or is away): a retryable 503, as AWS gives for a temporary
    failure; boto3 retries it by itself."""
    return AwsError("ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                    status=503, sender=False)
