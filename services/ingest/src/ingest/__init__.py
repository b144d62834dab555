"""Ingest: validates customer activity and delayed churn labels."""
