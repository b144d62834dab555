"""Revisions of the label log's table (the branch ``churn_labels`` of a service database)."""
