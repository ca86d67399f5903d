"""DSRN's configuration: the fields that fix the graph and the weights' shapes, and the
named sizes (the paper's widths, and a smaller one that trains and runs on a laptop CPU).
Torch-free, so the command line can list them at start-up without importing torch;
:mod:`dsrn_cli.model.network` builds the network from a :class:`DSRNConfig`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace


@dataclass(frozen=True)
class DSRNConfig:
    """Everything that fixes the graph and the shapes of the weights."""

    scale: int = 2
    c_lr: int = 128  # C_l: LR state width
    c_hr: int = 128  # C_h: HR state width
    c_first: int = 64  # first conv of s_l^0
    steps: int = 7  # T: unroll length
    single_state: bool = False  # Table 2: LR state only, upsampled once at the end
    feedback: bool = True  # Table 2: False drops f_down
    shared: bool = True  # Table 2: False gives every step its own transitions

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4):
            raise ValueError(f"scale must be 2, 3 or 4, not {self.scale}")
        if self.steps < 1:
            raise ValueError("steps (T) must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> DSRNConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


# Named configurations: the paper's, and "lite", sized to train and run on a laptop CPU
# (the HR state runs at s^2 times the LR pixels, so C_h sets the cost).
CONFIGS: dict[str, DSRNConfig] = {
    "paper": DSRNConfig(c_lr=128, c_hr=128, c_first=64, steps=7),
    "lite": DSRNConfig(c_lr=64, c_hr=32, c_first=64, steps=7),
}


def get_config(name: str, scale: int, **overrides) -> DSRNConfig:
    """A named configuration at ``scale``, with optional field overrides (e.g. steps)."""
    if name not in CONFIGS:
        raise ValueError(f"unknown configuration {name!r}; choose from {', '.join(CONFIGS)}")
    return replace(CONFIGS[name], scale=scale, **overrides)
