"""Audit: verify the chain, rebuild past states, replay selections, export bundles."""
