"""Started by Python in test subprocesses only: tests/support/clock.py puts this folder on PYTHONPATH."""

import os

_moment = os.environ.get("VOICE_CONSOLE_TEST_CLOCK")
if _moment:
    from datetime import datetime

    import time_machine

    time_machine.travel(datetime.fromisoformat(_moment), tick=True).start()
