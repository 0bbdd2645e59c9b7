"""Strategies bundled with bulkhead: rehearsal tools, not trading advice."""
