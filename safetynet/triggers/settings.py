"""The trigger settings of config.toml, read and checked once into the domain's `TriggerRules`."""

from __future__ import annotations

from safetynet.config import Config
from safetynet.domain.triggers import ACTIONS, TriggerRules, intensity_rank


class TriggerConfigError(ValueError):
    """A trigger setting in config.toml that cannot be used."""


def rules_from_config(cfg: Config) -> TriggerRules:
    jma, cap = cfg.triggers.jma, cfg.triggers.cap
    rank = intensity_rank(jma.min_intensity)
    if rank == 0:
        raise TriggerConfigError(
            "config: triggers.jma.min_intensity must be one of 1, 2, 3, 4, 5-, 5+, 6-, 6+, 7, "
            f"got {jma.min_intensity!r}"
        )
    for key, value in (("jma.action", jma.action), ("cap.action", cap.action)):
        if value not in ACTIONS:
            raise TriggerConfigError(f'config: triggers.{key} must be "propose" or "start", got {value!r}')
    if jma.aftershock_window_hours < 0:
        raise TriggerConfigError("config: triggers.jma.aftershock_window_hours must be >= 0")
    # tsunami_areas is read when the config has it (it is a later addition to JmaConfig).
    coasts = tuple(getattr(jma, "tsunami_areas", ()) or ())
    return TriggerRules(
        areas=frozenset(c.strip() for c in jma.areas),
        cities=frozenset(c.strip() for c in jma.cities),
        coasts=frozenset(c.strip() for c in coasts),
        min_intensity=rank,
        action=jma.action,
        drills=jma.drills,
        aftershock_window_seconds=jma.aftershock_window_hours * 3600.0,
        cap_codes=frozenset(c.strip() for c in cap.codes),
        cap_action=cap.action,
        scenario=jma.scenario,
        language=cfg.city.default_language,
    )


def as_rules(cfg: Config | TriggerRules) -> TriggerRules:
    return cfg if isinstance(cfg, TriggerRules) else rules_from_config(cfg)
