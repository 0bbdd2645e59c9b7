"""bulkhead.yaml: typed, frozen, strict models of a fleet, and the Freqtrade configs they render."""
