"""Reminder delivery: the outbox the cycle fills and the dispatcher that empties it."""
