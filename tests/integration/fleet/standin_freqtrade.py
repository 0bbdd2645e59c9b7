"""A stand-in for ``freqtrade trade`` in the supervisor's fast tests: the supervisor runs
for real; only the engine it starts is replaced by this script, which does what the test
needs Freqtrade to do and nothing else.

``standin_freqtrade.py BEHAVIOUR trade --config CONFIG``, BEHAVIOUR one of:

- ``trade``: write its environment and pid beside CONFIG, mark itself trading, and run
  until SIGINT, then take a moment to shut down (as Freqtrade does: 0.5 s, or as many
  seconds as a file ``shutdown-seconds`` beside CONFIG says when SIGINT comes) and exit 0;
- ``crash``: print an error as Freqtrade would and exit 2 at once;
- ``stubborn``: like ``trade``, but ignore SIGINT (only SIGKILL ends it).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

behaviour, _trade, _flag, config = sys.argv[1:5]
root = Path(config).parent

if behaviour == "crash":
    print("Impossible to load Strategy 'Broken'. This class does not exist.", flush=True)
    sys.exit(2)

stopping = False


def on_sigint(signum: int, frame: object) -> None:
    global stopping
    stopping = True


signal.signal(signal.SIGINT, signal.SIG_IGN if behaviour == "stubborn" else on_sigint)
(root / "child-env.json").write_text(json.dumps(dict(os.environ)))
(root / f"child-{os.getpid()}.alive").write_text("")
(root / "trading").write_text(str(os.getpid()))
while not stopping:
    time.sleep(0.05)
# a graceful shutdown takes a moment; a test that looks at the process meanwhile asks
# for a longer one, so that a slow machine cannot end it before the test has looked
shutdown = root / "shutdown-seconds"
time.sleep(float(shutdown.read_text()) if shutdown.exists() else 0.5)
(root / f"child-{os.getpid()}.alive").unlink()
sys.exit(0)
