"""The command line (typer). The only package that imports typer and rich.

Ctrl-C: a process started with SIGINT ignored (a background job of a
non-interactive shell, as some CI runners and scripts start commands) keeps it
ignored in Python, so ``apply`` would never see Ctrl-C or ``kill -INT`` and
would roll out to every host. The command line always answers SIGINT: the
default handler (``KeyboardInterrupt``) is put back here, first thing, before
the commands and their (lazily imported) modules load.
"""

import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.default_int_handler)
