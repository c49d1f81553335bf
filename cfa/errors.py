"""Errors meant for the user: the CLI prints them without a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad params, missing data, wrong paths).

    The message must say what is wrong, where, and how to fix it.
    """
