"""Application services: starting cohorts, recording programme versions, scheduling digests."""
