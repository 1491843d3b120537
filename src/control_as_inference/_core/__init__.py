"""The private core every family shares: argument checks, dtypes and the log-space numerics.

Nothing here is public API. Every subpackage may import from `control_as_inference._core`; no
module imports another subpackage's underscore names (tests/test_structure.py enforces both).

    checks.py    is_concrete, float_dtype, check_int, check_positive, check_scalar,
                 check_temperature, check_discount, check_method, METHODS
    numerics.py  log (backend-chosen float64 kernel), safe_log, soft_maximum, all_of, once
                 (a sum evaluated once, backend-chosen), log_threshold, trustworthy
    random.py    standard_normal (Box-Muller on the raw bits: the planners' noise)
"""

from .checks import (
    METHODS,
    check_discount,
    check_int,
    check_method,
    check_positive,
    check_scalar,
    check_temperature,
    float_dtype,
    is_concrete,
)
from .numerics import all_of, log, log_threshold, once, safe_log, soft_maximum, trustworthy
from .random import standard_normal

__all__ = [
    "METHODS",
    "all_of",
    "check_discount",
    "check_int",
    "check_method",
    "check_positive",
    "check_scalar",
    "check_temperature",
    "float_dtype",
    "is_concrete",
    "log",
    "log_threshold",
    "once",
    "safe_log",
    "soft_maximum",
    "standard_normal",
    "trustworthy",
]
