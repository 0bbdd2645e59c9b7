"""Run inside a container (``python -c``): which of the given addresses it can connect to.

argv: HOST:PORT ... Prints one JSON object: address -> "open" or why not (no such host,
timeout, refused).
"""

import json
import socket
import sys

results = {}
for address in sys.argv[1:]:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        results[address] = "open"
    except socket.gaierror:
        results[address] = "no such host"
    except TimeoutError:
        results[address] = "timeout"
    except ConnectionRefusedError:
        results[address] = "refused"
    except OSError as error:
        results[address] = type(error).__name__
print(json.dumps(results))
