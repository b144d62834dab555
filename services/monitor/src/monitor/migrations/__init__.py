"""The monitor's revisions (the branch ``monitor`` of its database)."""
