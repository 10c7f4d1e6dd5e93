"""Mammatus' instance metadata service: EC2 (IMDSv1/v2), NoCloud-net and OpenStack layouts.

Run alone with `python -m services.metadata --listen HOST:PORT --config FILE`; see
docs/metadata.md for the config format and the identity model.
"""
