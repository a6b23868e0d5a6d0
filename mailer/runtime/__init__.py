"""The basics every layer uses: the clock, errors, logs, metrics, fan-out, the scheduler's ticks, pacing arithmetic."""
