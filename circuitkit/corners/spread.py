"""Device-to-device and cycle-to-cycle spread of programmed RRAM states.

A programmed state is a lognormal resistance distribution (median, sigma of ln R, read
at 0.1 V): HfOx LRS/HRS after program-and-verify are close to lognormal. Each Monte
Carlo sample is a fresh programming cycle of a fresh cell, so one draw covers both
device-to-device and cycle-to-cycle spread. Resistances are turned into the model's
`gap_init` with the model card, so the simulated cell reads exactly the drawn resistance
at 0.1 V.

Where a spread comes from travels with it (`DeviceSpread.source`), and `device_spread`
is the one place that chooses it: the model card's resistance-distribution fit ("fitted
from <file>") when there is one, else the literature defaults below ("literature
defaults, not your data"), with explicit values overriding field by field. Whoever runs
simulations with it calls `announce_spread`, so a default never passes unnoticed.

Literature defaults (`LITERATURE_SPREAD`): read-resistance figures reported for a
130 nm HfOx 1T1R array after program-and-verify (the same kind of public, MIT-licensed
array measurements as those bundled in `characterization/`): LRS median 10.5 kohm with
1-99 % of cells in 9.3-11.6 kohm, HRS median 85.8 kohm with 1-99 % in 47-277 kohm. Each
sigma(ln R) is the one whose 1-99 % span equals the reported span
(`sigma_from_percentiles`): 0.0475 for LRS, 0.381 for HRS (whose upper tail is heavier
than a lognormal's: the lognormal puts 99 % of cells below 208 kohm, not 277 kohm).
These describe someone else's array, not yours.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Mapping

import numpy as np
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard

LITERATURE_SOURCE = "literature defaults, not your data"
EXPLICIT_SOURCE = "given explicitly"

# Weight value -> programmed states of the (BL, BLb) devices of a 2T2R cell.
CELL_STATES: Mapping[int, tuple[str, str]] = {+1: ("lrs", "hrs"), -1: ("hrs", "lrs"), 0: ("hrs", "hrs")}


@dataclasses.dataclass(frozen=True)
class StateDistribution:
    """Lognormal read resistance of one programmed state."""

    median_ohm: float
    sigma_ln: float
    samples: int | None = None  # cells behind a fitted distribution (None: given, taken as exact)

    def __post_init__(self) -> None:
        if not (self.median_ohm > 0 and math.isfinite(self.median_ohm)):
            raise CircuitkitError(f"median resistance must be a positive number of ohms, got {self.median_ohm!r}")
        if not (self.sigma_ln >= 0 and math.isfinite(self.sigma_ln)):
            raise CircuitkitError(f"sigma of ln R must be >= 0, got {self.sigma_ln!r}")

    @property
    def mu_ln(self) -> float:
        return math.log(self.median_ohm)


def sigma_from_percentiles(low_ohm: float, high_ohm: float, coverage: float = 0.98) -> float:
    """sigma(ln R) of the lognormal whose central `coverage` (0.98: 1-99 %) spans
    low_ohm..high_ohm."""
    return float(math.log(high_ohm / low_ohm) / (2 * stats.norm.ppf(0.5 + coverage / 2)))


LITERATURE_LRS = StateDistribution(10.5e3, sigma_from_percentiles(9.3e3, 11.6e3))
LITERATURE_HRS = StateDistribution(85.8e3, sigma_from_percentiles(47e3, 277e3))


@dataclasses.dataclass(frozen=True)
class DeviceSpread:
    """LRS and HRS distributions and where they came from (`source`). Without arguments:
    the literature defaults of the module docstring, whose source then says so."""

    lrs: StateDistribution = LITERATURE_LRS
    hrs: StateDistribution = LITERATURE_HRS
    # "fitted from <file>", LITERATURE_SOURCE, EXPLICIT_SOURCE, or a mix after overrides;
    # None: LITERATURE_SOURCE for the literature states, EXPLICIT_SOURCE for any others.
    source: str | None = None

    def __post_init__(self) -> None:
        if self.hrs.median_ohm <= self.lrs.median_ohm:
            raise CircuitkitError(
                f"HRS median ({self.hrs.median_ohm:g} ohm) must be above LRS median ({self.lrs.median_ohm:g} ohm)"
            )
        if self.source is None:
            literature = (self.lrs, self.hrs) == (LITERATURE_LRS, LITERATURE_HRS)
            object.__setattr__(self, "source", LITERATURE_SOURCE if literature else EXPLICIT_SOURCE)

    @property
    def uses_literature_defaults(self) -> bool:
        """True when any of the four numbers is a literature default, not the user's."""
        return LITERATURE_SOURCE in (self.source or "")

    def numbers(self) -> str:
        return (f"LRS median {self.lrs.median_ohm / 1e3:.4g} kohm, sigma(ln R) {self.lrs.sigma_ln:.3g}; "
                f"HRS median {self.hrs.median_ohm / 1e3:.4g} kohm, sigma(ln R) {self.hrs.sigma_ln:.3g}")

    def describe(self) -> str:
        """One line for consoles, artefacts and reports: where the spread came from, and its numbers."""
        return f"{self.source} ({self.numbers()})"

    def state(self, name: str) -> StateDistribution:
        return {"lrs": self.lrs, "hrs": self.hrs}[name]

    @classmethod
    def from_model_card(cls, card: ModelCard) -> "DeviceSpread":
        """The spread a resistance-distribution fit (`circuitkit fit --kind distribution`)
        stored on a model card: `variability` keys `median_r_<state>`, `sigma_lnR_<state>`,
        and the number of cells behind each from the fit's provenance."""
        values = card.variability
        missing = [f"{k}_{s}" for s in ("lrs", "hrs") for k in ("median_r", "sigma_lnR") if f"{k}_{s}" not in values]
        if missing:
            raise CircuitkitError(
                f"model card has no resistance-distribution fit (missing variability keys {', '.join(missing)}); "
                "fit one with `circuitkit fit DATA.csv --kind distribution`, or give LRS/HRS medians and sigmas"
            )
        provenance = card.provenance if isinstance(card.provenance, Mapping) else {}
        quality = provenance.get("fit_quality", {})

        def state(name: str) -> StateDistribution:
            samples = quality.get(name.upper(), {}).get("n") if isinstance(quality, dict) else None
            return StateDistribution(values[f"median_r_{name}"], values[f"sigma_lnR_{name}"],
                                     int(samples) if samples else None)

        return cls(state("lrs"), state("hrs"), source=f"fitted from {provenance.get('data_file', 'the model card')}")

    def draw(self, rng: np.random.Generator, stored: int, count: int) -> np.ndarray:
        """Resistances (count x 2: BL device, BLb device) of `count` cells storing `stored`."""
        if stored not in CELL_STATES:
            raise CircuitkitError(f"stored weight {stored!r} is not one of {sorted(CELL_STATES)}")
        columns = []
        for state_name in CELL_STATES[stored]:
            state = self.state(state_name)
            columns.append(np.exp(rng.normal(state.mu_ln, state.sigma_ln, size=count)))
        return np.column_stack(columns)

    def to_dict(self) -> dict[str, float | int | str | None]:
        values: dict[str, float | int | str | None] = {
            f"{name}_{key}": value for name in ("lrs", "hrs")
            for key, value in dataclasses.asdict(self.state(name)).items()}
        return values | {"source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, float | int | str | None]) -> "DeviceSpread":
        states = {name: StateDistribution(data[f"{name}_median_ohm"], data[f"{name}_sigma_ln"],
                                          data.get(f"{name}_samples")) for name in ("lrs", "hrs")}
        return cls(**states, source=data.get("source"))


# Field names `device_spread` accepts as overrides.
SPREAD_FIELDS = ("lrs_median_ohm", "lrs_sigma_ln", "hrs_median_ohm", "hrs_sigma_ln")


def device_spread(card: ModelCard | None = None,
                  overrides: Mapping[str, float | None] | None = None) -> DeviceSpread:
    """The device spread a run uses, with its source: the card's resistance-distribution
    fit when it has one, else the literature defaults; then each given override (keys
    `SPREAD_FIELDS`, None = not given) replaces one field and is named in the source."""
    base = (DeviceSpread.from_model_card(card)
            if card is not None and "median_r_lrs" in card.variability else DeviceSpread())
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    unknown = sorted(set(given) - set(SPREAD_FIELDS))
    if unknown:
        raise CircuitkitError(f"unknown device-spread field(s) {', '.join(unknown)}; expected {', '.join(SPREAD_FIELDS)}")
    if not given:
        return base
    states = {}
    for name in ("lrs", "hrs"):
        state = base.state(name)
        median = given.get(f"{name}_median_ohm", state.median_ohm)
        sigma = given.get(f"{name}_sigma_ln", state.sigma_ln)
        # A fitted state keeps its cell count only while both of its numbers are the fit's.
        samples = state.samples if (median, sigma) == (state.median_ohm, state.sigma_ln) else None
        states[name] = StateDistribution(float(median), float(sigma), samples)
    if len(given) == len(SPREAD_FIELDS):
        return DeviceSpread(**states, source=EXPLICIT_SOURCE)
    named = ", ".join(f"{key}={given[key]:g}" for key in SPREAD_FIELDS if key in given)
    return DeviceSpread(**states, source=f"{base.source}; {named} {EXPLICIT_SOURCE}")


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def announce_spread(spread: DeviceSpread, log: Callable[[str], None] | None = None) -> str | None:
    """Say so (on stderr, or through `log`) when a run uses literature-default spread
    instead of the user's data; returns the message, or None when there is nothing to say."""
    if not spread.uses_literature_defaults:
        return None
    message = (f"note: device spread: {spread.describe()}; fit your cells with "
               "`circuitkit fit CELLS.csv --kind distribution` and pass its model card to use them")
    (log or _to_stderr)(message)
    return message
