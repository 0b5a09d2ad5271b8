"""Exception types the entry scripts turn into one line instead of a traceback.

UserError: a mistake the user can fix (bad flags, bad data, missing files); exit status 2.
TrainingDiverged: training reached a non-finite loss or weight and stopped before saving it;
exit status 1. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem with the user's input; the message says what is wrong and what to do."""


class TrainingDiverged(Exception):
    """A loss or weight became NaN or infinite; the message names the step, what, and what to do."""
