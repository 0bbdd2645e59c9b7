"""A stand-in for ``freqtrade trade`` in the supervisor's unit tests: stdlib only, started
with ``python -S`` so a run costs a few milliseconds.

``standin_engine.py BEHAVIOUR trade --config CONFIG``; every start appends its pid to
``runs`` beside CONFIG (how a test counts starts). BEHAVIOUR is one of:

- ``trade``: run until SIGINT, note it in ``sigints``, take a moment and exit 0;
- ``stubborn``: note every SIGINT in ``sigints`` and run on (only SIGKILL ends it);
- ``crash``: print ``boom in run N`` (N: this start's number) and exit 3 at once;
- ``crash-late``: the same after living 0.25 s.
"""

import os
import signal
import sys
import time
from pathlib import Path

behaviour, _trade, _flag, config = sys.argv[1:5]
root = Path(config).parent
with (root / "runs").open("a") as runs:
    runs.write(f"{os.getpid()}\n")
run = len((root / "runs").read_text().split())

if behaviour.startswith("crash"):
    if behaviour == "crash-late":
        time.sleep(0.25)
    print(f"boom in run {run}", flush=True)
    sys.exit(3)

stopping = False


def on_sigint(signum: int, frame: object) -> None:
    global stopping
    with (root / "sigints").open("a") as seen:
        seen.write(f"{os.getpid()}\n")
    stopping = behaviour != "stubborn"


signal.signal(signal.SIGINT, on_sigint)
while not stopping:
    time.sleep(0.01)
time.sleep(0.05)  # a graceful shutdown takes a moment
sys.exit(0)
