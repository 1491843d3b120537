"""KL control's names for the engine's kernels (the code lives once, in `engine.kernels`), over
p's two layouts (dense (S, S) and successor lists (S, K)):

    log_expect(p, lx)[s]  = log sum_s' p(s'|s) exp(lx(s'))                (log-space backup)
    log_law(p, lx)        = log p(s'|s) + lx(s') - log_expect(p, lx)[s]     (the optimal law)
    Operator(w, index)    a weighted adjacency with p's sparsity; apply(op, y)[s] = sum w y
    scaled(p, row, col)   the operator w[s, s'] = p(s'|s) exp(row(s) - col(s')), overflow-free
                          where row(s) - col(s') <= -log p(s'|s) + O(1)
    restrict(op, keep)    rows and columns outside keep zeroed
"""

from ..engine import Operator, log_expect, log_law
from ..engine import apply_operator as apply
from ..engine import restrict_operator as restrict
from ..engine import scaled_operator as scaled

__all__ = ["Operator", "apply", "log_expect", "log_law", "restrict", "scaled"]
