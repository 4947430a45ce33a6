"""Stateful property tests of the whole integration (Hypothesis state machines)."""
