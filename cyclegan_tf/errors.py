"""The one exception type for a user's mistake: the CLI prints its message as one line."""


class UserError(Exception):
    """A problem the user can fix (a bad path, an unreadable image, a missing checkpoint, ...)."""
