"""The retrain trigger's revisions (the branch ``retrain_trigger`` of its database)."""
