"""Shared AWS wire pieces: SigV4 verification, credential files, query/JSON protocols, errors.

Nothing here knows about a particular service; SQS and SNS build on it.
"""
