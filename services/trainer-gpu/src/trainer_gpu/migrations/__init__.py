"""The trainer's revisions (the branch ``trainer_gpu`` of its database)."""
