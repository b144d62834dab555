"""REST gateway: synchronous predictions over Kafka request/reply."""
