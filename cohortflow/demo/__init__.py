"""The demo cycle and the deterministic sample programme and population it runs."""
