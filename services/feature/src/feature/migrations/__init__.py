"""The feature service's revisions (the branch ``feature`` of its database)."""
