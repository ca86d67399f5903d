"""Output size: which network factors to run and what size to resize the result down to.

``-s S`` runs one network pass of factor S. ``--outscale F`` (any F > 1) and ``--width`` /
``--height`` (fit inside, aspect kept) run the smallest product of bundled factors that
reaches the target (one pass up to x4; x4 then x2 and so on beyond), then the pipeline
resizes the network output down to the exact target with MATLAB's antialiased bicubic
(:func:`dsrn_cli.api.resize_to`).

Target sizes round half up: ``--outscale 1.5`` on 37x23 gives 56x35 (55.5 -> 56, 34.5 -> 35);
``--width 100`` on 37x23 gives 100x62 (23 * 100 / 37 = 62.16 -> 62).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations_with_replacement

MAX_PASSES = 3  # at most x64 with the bundled x4; beyond that the target is refused


class SizeError(ValueError):
    """A size request that cannot be served (no size, two sizes, a factor beyond what the
    bundled networks chain), worded as one line for the command line."""


@dataclass(frozen=True)
class SizeSpec:
    """Exactly one of ``scale`` (2, 3, 4), ``outscale`` (a float > 1), or ``width`` and/or
    ``height`` (pixels, > 0; both: fit inside that box)."""

    scale: int | None = None
    outscale: float | None = None
    width: int | None = None
    height: int | None = None

    def check(self) -> None:
        """Raise ValueError (a usage error for the CLI) for a missing or conflicting choice."""
        given = [n for n, v in (("-s/--scale", self.scale), ("--outscale", self.outscale))
                 if v is not None]  # fmt: skip
        if self.width is not None or self.height is not None:
            given.append("--width/--height")
        if not given:
            raise SizeError("give -s/--scale, --outscale or --width/--height")
        if len(given) > 1:
            raise SizeError(f"give only one of {', '.join(given)}")
        if self.outscale is not None and not (self.outscale > 1 and math.isfinite(self.outscale)):
            raise SizeError(f"--outscale must be a number above 1, not {self.outscale:g}")
        for name, v in (("--width", self.width), ("--height", self.height)):
            if v is not None and v < 1:
                raise SizeError(f"{name} must be a positive number of pixels, not {v}")

    def tag(self) -> str:
        """The part of an output name that says the size: x2, x1.5, w1920, h1080, 1920x1080."""
        if self.scale is not None:
            return f"x{self.scale}"
        if self.outscale is not None:
            return f"x{self.outscale:g}"
        if self.width is not None and self.height is not None:
            return f"{self.width}x{self.height}"
        return f"w{self.width}" if self.width is not None else f"h{self.height}"


def _round(x: float) -> int:
    """Half up, and never below one pixel."""
    return max(1, math.floor(x + 0.5 + 1e-9))


def target_size(w: int, h: int, spec: SizeSpec) -> tuple[int, int]:
    """The final ``(width, height)`` for a ``w x h`` input; ValueError if not larger."""
    if spec.scale is not None:
        return w * spec.scale, h * spec.scale
    if spec.outscale is not None:
        return _round(w * spec.outscale), _round(h * spec.outscale)
    if spec.width is not None and (spec.height is None or spec.width / w <= spec.height / h):
        size = spec.width, _round(h * spec.width / w)
    elif spec.height is not None:
        size = _round(w * spec.height / h), spec.height
    else:
        raise ValueError("no output size given")
    if size[0] <= w and size[1] <= h:
        raise ValueError(f"the target {size[0]}x{size[1]} is not larger than the input {w}x{h} "
                         "(dsrn only enlarges)")  # fmt: skip
    return size


def network_factors(factor: float, allowed: Sequence[int] = (2, 3, 4)) -> list[int]:
    """The passes to run for an overall ``factor``: the fewest passes, then the smallest
    product >= ``factor``, larger factors first (``8 -> [4, 2]``, ``5 -> [3, 2]``,
    ``1.5 -> [2]``). ValueError beyond ``MAX_PASSES`` passes of the largest factor."""
    for k in range(1, MAX_PASSES + 1):
        combos = [sorted(c, reverse=True) for c in combinations_with_replacement(allowed, k)]
        fits = [c for c in combos if math.prod(c) >= factor - 1e-9]
        if fits:
            return min(fits, key=lambda c: (math.prod(c), [-s for s in c]))
    top = max(allowed) ** MAX_PASSES
    raise SizeError(f"x{factor:.3g} is more than the x{top} dsrn runs at most")


def plan_factors(
    w: int, h: int, spec: SizeSpec, allowed: Sequence[int] = (2, 3, 4)
) -> tuple[list[int], tuple[int, int]]:
    """Network factors and final ``(width, height)`` for a ``w x h`` input.

    ``-s S`` is one pass of S (no resize). Otherwise the passes reach at least the target
    on both sides, and the result is resized down to it. Raises ValueError.
    """
    if spec.scale is not None:
        return [spec.scale], (w * spec.scale, h * spec.scale)
    size = target_size(w, h, spec)
    return network_factors(max(size[0] / w, size[1] / h), allowed), size
