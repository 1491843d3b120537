"""The private core every family shares: argument checks, dtypes and the log-space numerics.

Nothing here is public API. Every subpackage may import from `control_as_inference._core`; no
module imports another subpackage's underscore names (tests/test_structure.py enforces both).

    checks.py    is_concrete, float_dtype, check_int, check_positive, check_scalar,
                 check_temperature, check_discount (one domain, `discount_domain`), check_method,
                 METHODS, TEMPERATURE_DOMAIN
    numerics.py  log (backend-chosen float64 kernel), safe_log, soft_maximum, all_of, once
                 (a sum evaluated once, backend-chosen), log_threshold, trustworthy
    random.py    standard_normal (Box-Muller on the raw bits: the planners' noise)
    trees.py     dataclasses_replace (a copy of an equinox module with fields replaced), key_data
    files.py     atomic_write (temporary file, fsync, rename)
"""

from .checks import (
    METHODS,
    TEMPERATURE_DOMAIN,
    check_discount,
    check_int,
    check_method,
    check_positive,
    check_scalar,
    check_temperature,
    discount_domain,
    float_dtype,
    is_concrete,
)
from .files import atomic_write
from .numerics import all_of, log, log_threshold, once, safe_log, soft_maximum, trustworthy
from .random import standard_normal
from .trees import dataclasses_replace, key_data

__all__ = [
    "METHODS",
    "TEMPERATURE_DOMAIN",
    "all_of",
    "atomic_write",
    "check_discount",
    "check_int",
    "check_method",
    "check_positive",
    "check_scalar",
    "check_temperature",
    "dataclasses_replace",
    "discount_domain",
    "float_dtype",
    "is_concrete",
    "key_data",
    "log",
    "log_threshold",
    "once",
    "safe_log",
    "soft_maximum",
    "standard_normal",
    "trustworthy",
]
