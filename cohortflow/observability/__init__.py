"""What the service tells its operators: metrics it counts itself, and the Temporal SDK's telemetry."""
