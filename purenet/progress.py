"""A live, overwritten line on a terminal, and durations as people read them.

    >>> duration(75)
    '1m 15s'

:class:`purenet.callbacks.ProgressBar` shows training with it, the command
line shows evaluation and downloads. What this is not: a logger; lines that
must stay (an epoch's summary) are printed by their owners.
"""

import shutil

__all__ = ["LiveLine", "duration"]


class LiveLine:
    """One line on ``stream`` (a terminal), rewritten in place by :meth:`show`."""

    def __init__(self, stream):
        self.stream = stream
        self.width = shutil.get_terminal_size().columns - 1  # a wrapped line could not be overwritten

    def show(self, text: str) -> None:
        self.stream.write("\r\033[K" + text[: self.width])
        self.stream.flush()

    def clear(self) -> None:
        self.stream.write("\r\033[K")
        self.stream.flush()


def duration(seconds: float) -> str:
    """``42`` -> ``"42s"``, ``75`` -> ``"1m 15s"``, ``7300`` -> ``"2h 01m"``."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
