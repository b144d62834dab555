"""Registry: the promotion gate over the MLflow Model Registry."""
