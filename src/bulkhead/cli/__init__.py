"""The ``bulkhead`` command, one module per command group."""
