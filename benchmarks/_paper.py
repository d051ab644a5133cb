"""Reference numbers from the paper (Biazzo, Commun. Phys. 6, 296, 2023) and its released data,
as quoted in issue 6 and shared/docs/physics.md §7. Used only to print them beside ours."""

from __future__ import annotations

#: Curie–Weiss, J = 1, h = 0: relative error of the variational f, mean over the paper's 39 β
#: values in [0.1, 2.0], per N and architecture label.
CW_MEAN_REL_ERROR = {
    20: {"CW_N": 1.1e-7, "CW_inf": 7.4e-4, "MADE_22": 1.2e-4, "MADE_21": 3.5e-4, "SL": 5.0e-4, "1P": 5.1e-4},
    100: {"CW_N": 1.7e-7, "CW_inf": 3.8e-4, "MADE_22": 6.4e-5, "MADE_21": 2.7e-4, "SL": 7.0e-4, "1P": 1.2e-3},
    200: {"CW_N": 2.6e-7, "CW_inf": 2.3e-4, "MADE_22": 5.1e-5, "MADE_21": 3.1e-4, "SL": 4.7e-4, "1P": 1.1e-3},
}

#: SK, J = 1, h = 0, 10 instances, N = 100: mean relative difference (f_arch - f_2RSB)/|f_2RSB|
#: at β = 1.0, 1.5, 2.0.
SK_REL_DIFF_FROM_2RSB = {
    "SK_1RSB": {1.0: 8e-6, 1.5: 3.5e-5, 2.0: 2.2e-5},
    "SK_RS": {1.0: 1.2e-3, 1.5: 1.5e-3, 2.0: 8.4e-4},
    "SL": {1.0: 1.1e-3, 1.5: 1.2e-3, 2.0: 6.7e-4},
    "MADE_23": {1.0: 8.1e-4, 1.5: 4.9e-4, 2.0: 1.6e-4},
}
SK_PAPER_N = 100

#: The paper's annealing protocol (physics.md §5).
PAPER_BETA_START, PAPER_BETA_STOP, PAPER_BETA_STEP = 0.1, 2.0, 0.05
PAPER_STEPS_PER_BETA = 1000
PAPER_INIT_STEPS = 5000
PAPER_BATCH = 2000
PAPER_LR = 1e-3
PAPER_STD_THRESHOLD = 1e-4
PAPER_N_ESTIMATE = 20_000


def beta_grid(start: float, stop: float, step: float) -> list[float]:
    """start, start+step, …, ≤ stop, rounded so that the values (and the spec hashes) are stable."""
    if step <= 0 or stop < start:
        raise ValueError(f"need step > 0 and stop ≥ start, got {start}, {stop}, {step}")
    count = int(round((stop - start) / step + 1e-9)) + 1
    grid = [round(start + k * step, 10) for k in range(count)]
    return [b for b in grid if b <= stop + 1e-12]
