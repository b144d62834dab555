"""Monitor: drift and performance windows, Prometheus metrics, the drift dashboard."""
