"""One harness for the tests, the soak and the benchmark.

- `timings`: the integration's waits, set in one place (`Timings`, `applied`).
- `home`: a Home Assistant of the test harness for scripts, with one storage
  policy, and the config entry of an account on a simulator.
- `process`: the simulator in a process of its own (the benchmark's).
- `faults`: the fault injections the fault matrix and the soak share.
- `clock`: a fake clock for tests that wait for the integration's timers.
- `convergence`: does Home Assistant show what the simulator holds?
- `probe`: the longest event-loop block while it runs.
"""
