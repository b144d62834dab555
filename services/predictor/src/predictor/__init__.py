"""Predictor: micro-batched churn scoring with hot model swap (N replicas)."""
