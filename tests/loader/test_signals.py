"""`supplylake loader` stops on SIGTERM however many arrive at once."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Runs `run_until_signalled` many times while another process sends SIGTERM to it as fast as it
#: can, and prints how many runs ended. A handler that set the Event itself deadlocked here: the
#: next signal interrupted it inside `Event.set`, and its own handler waited for the lock the
#: interrupted one held.
_SCRIPT = textwrap.dedent(
    """
    import os, signal, subprocess, sys, threading
    from supplylake.process.signals import run_until_signalled

    signal.signal(signal.SIGTERM, lambda *_: None)  # between runs, a signal is nothing
    spam = "import os, signal, sys\\nwhile True: os.kill(int(sys.argv[1]), signal.SIGTERM)"
    sender = subprocess.Popen([sys.executable, "-c", spam, str(os.getpid())])
    ended = 0
    try:
        for _ in range(40):
            stop = threading.Event()
            run_until_signalled(threading.Thread(target=stop.wait), stop)
            ended += 1
    finally:
        sender.kill()
        sender.wait()
    print(ended)
    """
)


def test_bursts_of_sigterm_always_stop_the_loop() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["40"]
