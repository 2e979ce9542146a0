"""Threads of the run's own, which leave termination signals to the main thread.

Linux delivers a process's signal to any thread that does not block it. Python runs its handler
in the main thread, but only once that thread runs again: when the signal lands on a worker, a
main thread blocked reading standard input is never woken, and the run ignores SIGINT and SIGTERM
until the tap writes again (seen in CI: the signal went unnoticed for 30 s). So every thread we
start blocks them, and the kernel hands them to the main thread, whose read it interrupts.
"""

from __future__ import annotations

import signal
import threading

from typing_extensions import override

TERMINATION = {signal.SIGINT, signal.SIGTERM}


def leave_signals_to_main() -> None:
    """Block termination signals in the calling thread (a thread we started, never the main one)."""
    if threading.current_thread() is not threading.main_thread():
        signal.pthread_sigmask(signal.SIG_BLOCK, TERMINATION)


class WorkerThread(threading.Thread):
    """A thread that blocks termination signals before it runs its target."""

    @override
    def run(self) -> None:
        leave_signals_to_main()
        super().run()


class WorkerTimer(threading.Timer):
    """A :class:`threading.Timer` that blocks termination signals before it waits."""

    @override
    def run(self) -> None:
        leave_signals_to_main()
        super().run()
