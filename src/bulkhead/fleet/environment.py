"""The environment a bot's Freqtrade starts with: an allowlist, never the operator's shell.

A strategy runs arbitrary Python inside Freqtrade and can read its whole environment. If
Freqtrade inherited the supervisor's, every bot could read every other bot's key (an
operator's shell or a shared .env exports them all) and any master key lying around. So
the child gets only what Python, Freqtrade and the system libraries need to run, plus this
bot's own variables, which the supervisor adds on top.
"""

from __future__ import annotations

from collections.abc import Mapping

#: exact names passed through from the supervisor's environment
ALLOWED = frozenset(
    {
        # where programs, libraries and the interpreter are
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONHOME",
        "PYTHONUNBUFFERED",
        "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING",
        "PYTHONUTF8",
        "PYTHONHASHSEED",
        "LD_LIBRARY_PATH",
        # text, time and temporary files
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "TEMP",
        "TMP",
        "TERM",
        "NO_COLOR",
        "COLUMNS",
        # which certificate authorities TLS trusts (a corporate proxy's bundle)
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        # where Freqtrade's REST API listens: Compose sets these for a bot's container
        "FREQTRADE__API_SERVER__LISTEN_IP_ADDRESS",
        "FREQTRADE__API_SERVER__LISTEN_PORT",
    }
)

#: name prefixes passed through (locale categories)
ALLOWED_PREFIXES = ("LC_",)


def child_environment(inherited: Mapping[str, str], own: Mapping[str, str]) -> dict[str, str]:
    """The allowlisted part of ``inherited``, then the bot's ``own`` variables over it."""
    kept = {
        name: value
        for name, value in inherited.items()
        if name in ALLOWED or name.startswith(ALLOWED_PREFIXES)
    }
    return {**kept, **own}
