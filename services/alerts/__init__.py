"""Kapacitor's alerts to SNS: services/alerts/relay.py."""
