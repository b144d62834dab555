"""Pure domain logic of this service: no Kafka, SQL, MLflow, Feast or torch I/O here
(enforced by tests/test_import_layers.py)."""
