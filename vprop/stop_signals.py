"""The signals that end a run early (Ctrl-C, kill, a closed terminal), and how a run takes them over."""
from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def handling_stop_signals(handler: Callable) -> Iterator[None]:
    """``handler(signum, frame)`` takes SIGINT, SIGTERM and SIGHUP while the block runs; the earlier handlers come
    back after it. A signal ignored when the block starts stays ignored: `nohup vprop ...` survives its terminal."""
    old = {s: signal.signal(s, handler) for s in STOP_SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, previous in old.items():
            signal.signal(s, previous)
