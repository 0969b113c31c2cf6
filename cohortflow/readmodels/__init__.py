"""Read models: views computed from the event store, rebuildable from position zero."""
