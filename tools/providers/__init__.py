"""Mammatus' own Pulumi resource provider plugins (random, tls, command), see README.md."""
