"""SQS-compatible queues over NATS JetStream (AWS JSON 1.0 and query/XML protocols)."""
