"""The one exception type for mistakes a user can fix (bad flags, bad data, missing files).

Entry scripts catch it and print its message as a single line with exit status 2;
anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what is wrong and what to do."""
