"""Errors that stop a run with a message meant for the operator (no traceback needed)."""


class ReliefError(Exception):
    """A run cannot go on: the message says what is wrong and what to do."""


class InboxFileError(ReliefError):
    """A whole inbox file is unusable (missing, empty, wrong header, unreadable): the day publishes nothing."""


class ValidationFailed(ReliefError):
    """A hard Great Expectations check failed: nothing is published; the results are kept."""


class OutOfOrderRun(ReliefError):
    """A day was asked for before an earlier delivered day was run."""


class MissingDelivery(ReliefError):
    """The day's claims file has not arrived within the wait allowed for it."""
