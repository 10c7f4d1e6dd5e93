"""SNS-compatible pub/sub over NATS JetStream (query/XML protocol, signed notifications)."""
