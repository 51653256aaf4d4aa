"""The one exception type whose message the CLI prints as a one-line error."""


class OmrlError(Exception):
    """Bad input or a broken dataset: the message says what was wrong and what is allowed."""
