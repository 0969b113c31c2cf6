"""Who may do what: roles, their permissions, and the bearer tokens that carry them.

``roles`` is pure (no I/O), so every caller can ask ``principal.can(...)``;
``tokens`` keeps the tokens in PostgreSQL, storing only a hash of each secret.
"""
