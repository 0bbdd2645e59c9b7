"""Running bots: local supervised processes, Docker Compose files, leases."""
