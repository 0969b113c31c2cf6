"""Certificates once issued: found by their code or their participant, and printed as PDF."""
