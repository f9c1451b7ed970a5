"""Running the product: health and heartbeats, leases, metrics, logs with request ids, error reporting,
outside channels' status, the one-command launcher."""
