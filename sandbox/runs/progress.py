"""The one progress line of long work (training, fitting, collecting, the demo), on stderr.

    progress = ProgressLine()
    progress.show("step 1,024/100,000  return 12.3")     # throttled: at most twice a second
    progress.close("step 100,000/100,000  done")          # the final line, always, and a newline

On a terminal the line is redrawn in place (carriage return). Into a file or a pipe each shown line is a line
of its own (throttled to one every `file_every` seconds), so a log file reads line by line and never runs
lines together.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressLine:
    """A status line redrawn in place on a terminal, or written line by line into a log file."""

    def __init__(self, stream: TextIO | None = None, every: float = 0.5, file_every: float = 10.0):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.every = every if self.tty else file_every
        self.last, self.text, self.written, self.closed = -float("inf"), "", "", False

    def show(self, text: str, force: bool = False) -> None:
        """Show `text` if the last line is older than the throttle (or `force`)."""
        now = time.perf_counter()
        self.text = text
        if not force and now - self.last < self.every:
            return
        self.last = now
        self.written = text
        self.stream.write(f"\r{text}\x1b[K" if self.tty else text + "\n")
        self.stream.flush()

    def close(self, text: str | None = None) -> None:
        """Write the final line (`text`, or the last one shown) and end it with a newline; idempotent."""
        if self.closed:
            return
        self.closed = True
        final = text if text is not None else self.text
        if not final or (not self.tty and final == self.written):  # a log file already holds this line
            return
        self.stream.write(f"\r{final}\x1b[K\n" if self.tty else final + "\n")
        self.stream.flush()
