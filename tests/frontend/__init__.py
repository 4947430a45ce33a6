"""Tests of the integration's frontend module, run under Node.js."""
