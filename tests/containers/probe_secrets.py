"""Run inside a container (``python -c``): where, if anywhere, the given values are found.

stdin: a JSON object, label -> value (values never go on a command line, where they would
show in the container's process list). Searched: every process's environment and command
line, and every file under the given folders (argv). Prints one JSON object: label -> the
places it was found (``environ of pid N``, ``cmdline of pid N``, or a file's path), and
``searched``: how many files were read.
"""

import json
import os
import sys

MAX_BYTES = 64 * 1024 * 1024

needles = {label: value.encode() for label, value in json.load(sys.stdin).items()}
found: dict[str, list[str]] = {label: [] for label in needles}
searched = 0


def look(place: str, data: bytes) -> None:
    for label, needle in needles.items():
        if needle in data:
            found[label].append(place)


for pid in [name for name in os.listdir("/proc") if name.isdigit()]:
    for part in ("environ", "cmdline"):
        try:
            with open(f"/proc/{pid}/{part}", "rb") as handle:
                look(f"{part} of pid {pid}", handle.read())
        except OSError:
            pass  # gone meanwhile

for root in sys.argv[1:]:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            try:
                if os.path.islink(path) or os.path.getsize(path) > MAX_BYTES:
                    continue
                with open(path, "rb") as handle:
                    look(path, handle.read())
                searched += 1
            except OSError:
                pass  # a socket, or gone meanwhile
print(json.dumps({"found": found, "searched": searched}))
