"""The registry's revisions (the branch ``registry`` of its database)."""
