"""End-to-end tests: the integration inside a real Home Assistant process."""
