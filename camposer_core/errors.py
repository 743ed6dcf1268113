"""Errors shared by every layer of ``camposer_core``."""

__all__ = ["UserError"]


class UserError(Exception):
    """An error caused by the user's input (bad file, bad option): the CLI prints it without a
    traceback and exits 1. The message names the file / option / topic and what was wrong."""
