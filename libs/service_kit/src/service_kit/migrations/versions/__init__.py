"""The kit's revisions: the branch ``service_kit`` of every service's database."""
