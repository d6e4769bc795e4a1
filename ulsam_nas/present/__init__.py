"""Every sentence and table the tool prints, from the records the library computes.

``formats`` (numbers, durations, accuracies, tables), ``study`` (noise, fronts, baselines, rank agreement)
and ``runs`` (estimates, trial lines, refinement, calibration, latency). Nothing here computes results.
"""
