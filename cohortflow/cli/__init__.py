"""The command-line interface: `cohortflow` and its command groups, each a module here."""
