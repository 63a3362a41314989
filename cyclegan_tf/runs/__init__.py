"""A run directory on disk: checkpoints (written and read safely) and what it shows a person (`report`)."""
