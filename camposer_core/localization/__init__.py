"""Centimetre localization: PnP of a query image's SIFT features against the SfM map.

Stages, one module each (hloc-style): :mod:`.map` (the localization map file, leakage
exclusion), :mod:`.mapping` (building it for a dataset), :mod:`.features` (query SIFT),
:mod:`.candidates` (database images near a prior), :mod:`.retrieval` (bag-of-words global
retrieval), :mod:`.matching` (mutual NN + ratio test), :mod:`.pose` (PnP + covariance),
:mod:`.gating` (refined | prior_only | lost), :mod:`.refiner` (the Localizer's refiner,
streaming state).
"""

from .map import MAP_FILE, LocalizationMap
from .refiner import PRIOR_MODES, PnPRefiner, RefineConfig

__all__ = ["LocalizationMap", "MAP_FILE", "PnPRefiner", "RefineConfig", "PRIOR_MODES", "build_localization_map"]


def build_localization_map(*args, **kwargs):
    """See :func:`.mapping.build_localization_map`."""
    from .mapping import build_localization_map as build

    return build(*args, **kwargs)
