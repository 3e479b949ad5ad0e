"""The reference's schedules: KL annealing and the learning-rate decay (all numbers from config).

KL weight: `kl_start_weight` (1e-6) until `kl_start_step` (50k), then linear to `kl_end_weight`
(1.0) at `kl_end_step` (75k), constant after. Learning rate: `lr` for `lr_constant_steps` (1k),
then linear to 0 at `lr_end_step` (100k).
"""

from __future__ import annotations

from training.config import ScheduleSection


def kl_weight(step: int, s: ScheduleSection) -> float:
    if step <= s.kl_start_step:
        return s.kl_start_weight
    if step >= s.kl_end_step:
        return s.kl_end_weight
    t = (step - s.kl_start_step) / (s.kl_end_step - s.kl_start_step)
    return s.kl_start_weight + t * (s.kl_end_weight - s.kl_start_weight)


def lr_factor(step: int, s: ScheduleSection) -> float:
    """Multiplier of `s.lr` at `step` (for torch's LambdaLR-free manual setting)."""
    if step <= s.lr_constant_steps:
        return 1.0
    if step >= s.lr_end_step:
        return 0.0
    return 1.0 - (step - s.lr_constant_steps) / (s.lr_end_step - s.lr_constant_steps)


def learning_rate(step: int, s: ScheduleSection) -> float:
    return s.lr * lr_factor(step, s)
