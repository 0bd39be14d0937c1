"""What real RRAM cells do that ideal ones do not: one composed device-nonideality object
that campaigns, error injection and the SNN all take.

Composed as aihwkit composes its device configs: small frozen parts with documented
fields, each None (or absent) when ideal, each saying where its numbers come from.

    DeviceNonideality
      states      ProgrammedStates: the read resistance of each programmed state (LRS,
                  HRS) over cells and programming cycles, as a distribution model of
                  `device.distributions` (a draw is a fresh cell freshly programmed, so
                  one draw covers device-to-device and cycle-to-cycle programming spread),
                  read at the model card's read voltage; plus, per state, every model a
                  fit produced (lognormal, mixture, empirical body with GPD tails) for
                  model-form sensitivity
      read_noise  ReadNoise | None: cycle-to-cycle noise of every read (relative sigma
                  of the read current); None: reads are exact
      stuck       StuckCells | None: cells that keep the other state when programmed
                  (a failed SET or RESET); None: every cell takes its state

Who uses which part: a corner campaign draws the two devices of every 2T2R cell from
`draw` (programmed states, and stuck cells when given) and its rare-event method
integrates over `states` (lognormal states); `inject.placement.ColumnOffsetErrors`
turns a sense amplifier's offset and `states` into per-column error probabilities; the
SNN reads `read_noise` and `stuck` and checks that `states` are those its
characterization table was measured with (`CharacterizationTable.device`).

Bit errors of a circuit sit beside this object, not in it: a `ber_table.TransitionMatrix`
(P(read | stored) at one condition) is what a campaign measures by reading devices
described here through a sense amplifier at one operating point, so it belongs to the
circuit and its condition, not to the devices; injection takes it (or
`ColumnOffsetErrors`) as its error model. The one device-only bit error is inside: stuck
cells, `StuckCells.transition()`, over the cell states (-1 HRS, +1 LRS).

Where numbers come from travels with them, and this module is the one place that
chooses and announces them: `device_nonideality(card, overrides)` takes the model card's
resistance-distribution fit ("fitted from <file>") when there is one, else the
literature defaults below ("literature defaults, not your data"), and explicit values
override field by field (named in the source); `announce` says so on the console (or a
log) when any part is a default, and `describe()` is the line campaign.json and the
report carry.

Literature defaults of the programmed states (`LITERATURE_LRS`, `LITERATURE_HRS`):
read-resistance figures reported for a 130 nm HfOx 1T1R array after program-and-verify
(the same kind of public, MIT-licensed array measurements as those bundled in
`characterization/`): LRS median 10.5 kohm with 1-99 % of cells in 9.3-11.6 kohm, HRS
median 85.8 kohm with 1-99 % in 47-277 kohm. Each sigma(ln R) is the one whose 1-99 %
span equals the reported span (`sigma_from_percentiles`): 0.0475 for LRS, 0.381 for HRS
(whose upper tail is heavier than a lognormal's: the lognormal puts 99 % of cells below
208 kohm, not 277 kohm). These describe someone else's array, not yours. Their medians
are also the nominal LRS/HRS resistances a generated netlist programs
(`netlist.common.RramStates`): one default for both.

Default stuck-cell rates (`StuckCells.dataset_default`, a dataset default, not the
user's data; announced as such): the cycling log of the public 130 nm 1T1R HfOx array
data (a university group's NI-based RRAM test set-up, 2021, MIT licence): 2,724
SET/RESET cycles of one cell, read after each pulse. A RESET that left the cell below
15 kohm (above every LRS read of the log, 6.8 - 12.7 kohm) counts as stuck in LRS: 1 of
2,724; a SET that left it above 15 kohm as stuck in HRS: 0 of 2,724. The point
estimates are used, with their Clopper-Pearson intervals reported.

Default read noise (`ReadNoise.assumed`): 2 % per read, an assumption (the compact
model has no read noise: its cycle-to-cycle noise acts on switching), stated as such.

This module describes devices; it simulates no circuit and draws no figure.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from scipy import stats

from circuitkit import CircuitkitError
from circuitkit.ber_table import TransitionMatrix
from circuitkit.device.distributions import Distribution, Lognormal, StateFit, distribution_from_dict
from circuitkit.device.model import ModelCard
from circuitkit.stats import binomial_interval

# A resistance model of one state: any model of `device.distributions` (the protocol
# `cdf sf ppf isf logpdf sample median sigma_ln kind samples data_range`).
ResistanceModel = Distribution

STATES = ("lrs", "hrs")
# Weight value -> programmed states of the (BL, BLb) devices of a 2T2R cell: the one map
# (netlists program these states, campaigns draw them).
CELL_STATES: Mapping[int, tuple[str, str]] = {+1: ("lrs", "hrs"), -1: ("hrs", "lrs"), 0: ("hrs", "hrs")}

LITERATURE_SOURCE = "literature defaults, not your data"
EXPLICIT_SOURCE = "given explicitly"
# Which of a model card's fitted models the states use (`from_model_card(model=...)`):
# the card's lognormal summary (`median_r_<state>`, `sigma_lnR_<state>`), what campaigns
# have drawn from so far; "chosen" (the fit's choice by its criterion); or a kind.
SUMMARY = "summary"
CHOSEN = "chosen"


class NonidealityError(CircuitkitError):
    """A device nonideality that is malformed or cannot be used as asked."""


def sigma_from_percentiles(low_ohm: float, high_ohm: float, coverage: float = 0.98) -> float:
    """sigma(ln R) of the lognormal whose central `coverage` (0.98: 1-99 %) spans
    low_ohm..high_ohm."""
    return float(math.log(high_ohm / low_ohm) / (2 * stats.norm.ppf(0.5 + coverage / 2)))


def lognormal_state(median_ohm: float, sigma_ln: float, samples: int | None = None) -> Lognormal:
    """A lognormal state given by its median (ohm) and sigma of ln R; `samples`: the
    cells behind a fitted pair (None or 0: given, taken as exact)."""
    try:
        return Lognormal.from_median(median_ohm, sigma_ln, int(samples or 0))
    except (CircuitkitError, TypeError, ValueError) as error:
        raise NonidealityError(f"state median {median_ohm!r} ohm, sigma(ln R) {sigma_ln!r}: {error}") from None


LITERATURE_LRS = lognormal_state(10.5e3, sigma_from_percentiles(9.3e3, 11.6e3))
LITERATURE_HRS = lognormal_state(85.8e3, sigma_from_percentiles(47e3, 277e3))


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


# ------------------------------------------------------------------------ programmed states


@dataclasses.dataclass(frozen=True)
class ProgrammedStates:
    """The read resistance of each programmed state over cells and programming cycles.

    `lrs`, `hrs`: the model each state is drawn from (default: the literature lognormals
    of the module docstring). `fitted`: per state ('lrs', 'hrs'), every model a fit
    produced, by kind, for model-form sensitivity (empty when the states were given).
    `source`: where they come from ("fitted from <file>", LITERATURE_SOURCE,
    EXPLICIT_SOURCE, or a mix after overrides); None: LITERATURE_SOURCE for the
    literature states, EXPLICIT_SOURCE for any others. `relaxed_from`: the programmed
    states these are a later read of (`corners.config.relax_device`), so that relaxing
    again starts from them; not part of the states' value (equality, files).
    """

    lrs: ResistanceModel = LITERATURE_LRS
    hrs: ResistanceModel = LITERATURE_HRS
    source: str | None = None
    fitted: Mapping[str, Mapping[str, ResistanceModel]] = dataclasses.field(default_factory=dict)
    relaxed_from: "ProgrammedStates | None" = dataclasses.field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in STATES:
            if not hasattr(getattr(self, name), "cdf"):
                raise NonidealityError(f"state {name}: {getattr(self, name)!r} is not a resistance model "
                                       "(circuitkit.device.distributions)")
        if self.hrs.median <= self.lrs.median:
            raise NonidealityError(f"HRS median ({self.hrs.median:g} ohm) must be above LRS median "
                                   f"({self.lrs.median:g} ohm)")
        unknown = sorted(set(self.fitted) - set(STATES))
        if unknown:
            raise NonidealityError(f"fitted models of unknown state(s) {', '.join(unknown)}; expected lrs, hrs")
        if self.source is None:
            literature = (self.lrs, self.hrs) == (LITERATURE_LRS, LITERATURE_HRS)
            object.__setattr__(self, "source", LITERATURE_SOURCE if literature else EXPLICIT_SOURCE)

    @classmethod
    def given(cls, lrs_median_ohm: float, lrs_sigma_ln: float, hrs_median_ohm: float,
              hrs_sigma_ln: float) -> "ProgrammedStates":
        """Lognormal states given by their numbers (source: EXPLICIT_SOURCE)."""
        return cls(lognormal_state(lrs_median_ohm, lrs_sigma_ln), lognormal_state(hrs_median_ohm, hrs_sigma_ln))

    def state(self, name: str) -> ResistanceModel:
        if name not in STATES:
            raise NonidealityError(f"unknown state {name!r}; expected one of {', '.join(STATES)}")
        return getattr(self, name)

    @property
    def uses_literature_defaults(self) -> bool:
        """True when any number of the states is a literature default, not the user's."""
        return LITERATURE_SOURCE in (self.source or "")

    def numbers(self) -> str:
        def one(name: str) -> str:
            model = self.state(name)
            form = "" if model.kind == "lognormal" else f" ({model.kind})"
            return f"{name.upper()} median {model.median / 1e3:.4g} kohm, sigma(ln R) {model.sigma_ln:.3g}{form}"

        return "; ".join(one(name) for name in STATES)

    def model_label(self) -> str:
        """Which distribution model each state is, for a bit-error table's `method`
        (`device lrs:lognormal hrs:lognormal_mixture`), marked when not fitted to the user's cells."""
        label = f"device lrs:{self.lrs.kind} hrs:{self.hrs.kind}"
        return label + (" (literature default)" if self.uses_literature_defaults else "")

    def lognormal(self, name: str) -> Lognormal:
        """The state's model when it is a lognormal (what closed-form integrals need)."""
        model = self.state(name)
        if not isinstance(model, Lognormal):
            raise NonidealityError(f"state {name}: a {model.kind} model; this method assumes lognormal states "
                                   "(use the card's lognormal summary, or a Monte Carlo method)")
        return model

    def draw(self, rng: np.random.Generator, name: str, count: int) -> np.ndarray:
        """`count` resistances of state `name`. A lognormal state draws exp(N(mu, sigma))
        with `rng.normal` (the numbers campaigns have always drawn); others `sample`."""
        model = self.state(name)
        if isinstance(model, Lognormal):
            return np.exp(rng.normal(model.mu, model.sigma, size=count))
        return model.sample(rng, count)

    # -- files: a lognormal state without fitted alternatives keeps the flat keys campaigns
    # and characterization tables have always recorded (`lrs_median_ohm`, `lrs_sigma_ln`,
    # `lrs_samples`); any other model is stored whole under `<state>_model`.
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name in STATES:
            model = self.state(name)
            if isinstance(model, Lognormal) and model.median_ohm is not None:
                data |= {f"{name}_median_ohm": model.median_ohm, f"{name}_sigma_ln": model.sigma,
                         f"{name}_samples": model.samples or None}
            else:
                data[f"{name}_model"] = model.to_dict()
        data["source"] = self.source
        if self.fitted:
            data["fitted"] = {name: {kind: model.to_dict() for kind, model in models.items()}
                              for name, models in self.fitted.items()}
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ProgrammedStates":
        try:
            states = {name: (distribution_from_dict(data[f"{name}_model"]) if f"{name}_model" in data else
                             lognormal_state(data[f"{name}_median_ohm"], data[f"{name}_sigma_ln"],
                                             data.get(f"{name}_samples")))
                      for name in STATES}
            fitted = {name: {kind: distribution_from_dict(entry) for kind, entry in models.items()}
                      for name, models in (data.get("fitted") or {}).items()}
        except (KeyError, TypeError, ValueError, CircuitkitError) as error:
            raise NonidealityError(f"malformed programmed states {dict(data)!r}: {error}") from None
        return cls(**states, source=data.get("source"), fitted=fitted)

    @classmethod
    def from_model_card(cls, card: ModelCard, model: str = SUMMARY) -> "ProgrammedStates":
        """The states a resistance-distribution fit (`circuitkit fit --kind distribution`)
        stored on a model card. `model`: SUMMARY (the card's lognormal summary, keys
        `median_r_<state>`, `sigma_lnR_<state>`, with the number of cells behind each),
        CHOSEN (the model the fit chose per state) or a kind ('lognormal',
        'lognormal_mixture', 'empirical_gpd'). Every fitted model goes into `fitted`."""
        values = card.variability
        missing = [f"{k}_{s}" for s in STATES for k in ("median_r", "sigma_lnR") if f"{k}_{s}" not in values]
        if missing:
            raise NonidealityError(
                f"model card has no resistance-distribution fit (missing variability keys {', '.join(missing)}); "
                "fit one with `circuitkit fit DATA.csv --kind distribution`, or give LRS/HRS medians and sigmas"
            )
        provenance = card.provenance if isinstance(card.provenance, Mapping) else {}
        quality = provenance.get("fit_quality", {})
        fits: dict[str, StateFit] = {name: card.state_fit(name) for name in STATES
                                     if name.upper() in card.distributions}

        def state(name: str) -> ResistanceModel:
            if model == SUMMARY:
                samples = quality.get(name.upper(), {}).get("n") if isinstance(quality, dict) else None
                return lognormal_state(values[f"median_r_{name}"], values[f"sigma_lnR_{name}"], samples)
            if name not in fits:
                raise NonidealityError(f"model card has no fitted distribution models for {name.upper()}: "
                                       f"use model={SUMMARY!r} (its lognormal summary)")
            return card.distribution(name, None if model == CHOSEN else model)

        source = f"fitted from {provenance.get('data_file', 'the model card')}"
        if model != SUMMARY:
            source += f" ({model} models)" if model == CHOSEN else f" ({model})"
        return cls(state("lrs"), state("hrs"), source=source,
                   fitted={name: dict(fit.models) for name, fit in fits.items()})


# ------------------------------------------------------------------------ read noise


@dataclasses.dataclass(frozen=True)
class ReadNoise:
    """Cycle-to-cycle noise of every read: the read current of a cell is its programmed
    state's current times (1 + sigma_rel * Z), Z standard normal, independently per read
    and cell. `source` says where sigma_rel comes from."""

    sigma_rel: float
    source: str = EXPLICIT_SOURCE

    ASSUMED = 0.02   # the default: an assumption, see the module docstring

    def __post_init__(self) -> None:
        if not (isinstance(self.sigma_rel, (int, float)) and not isinstance(self.sigma_rel, bool)
                and 0 <= self.sigma_rel < 1):
            raise NonidealityError(f"read noise sigma_rel must be in [0, 1), got {self.sigma_rel!r}")

    @classmethod
    def assumed(cls) -> "ReadNoise":
        return cls(cls.ASSUMED, "assumption, not your data: the compact model has no read noise")

    @property
    def is_default(self) -> bool:
        return self.source.startswith("assumption")

    def to_dict(self) -> dict[str, Any]:
        return {"sigma_rel": self.sigma_rel, "source": self.source}


# ------------------------------------------------------------------------ stuck cells

# The public 1T1R array's cycling log (see the module docstring): failures, cycles.
DATASET_STUCK_LRS = (1, 2724)   # RESET left the cell at an LRS-level resistance
DATASET_STUCK_HRS = (0, 2724)   # SET left the cell at an HRS-level resistance
DATASET_SOURCE = ("public 130 nm 1T1R HfOx array data (NI-based RRAM test set-up, 2021, MIT licence): "
                  "cycling log, 2,724 SET/RESET cycles of one cell, stuck = read beyond 15 kohm on the wrong side")


@dataclasses.dataclass(frozen=True)
class StuckCells:
    """Per-cell probabilities of staying in the wrong state, and where they come from.

    `stuck_lrs`: a cell programmed to HRS stays in LRS; `stuck_hrs`: programmed to LRS,
    stays in HRS. `counts` keeps the (failures, trials) behind each when measured."""

    stuck_lrs: float
    stuck_hrs: float
    source: str = "given"
    counts: dict[str, tuple[int, int]] | None = None

    def __post_init__(self) -> None:
        for name in ("stuck_lrs", "stuck_hrs"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0.0 <= value <= 1.0):
                raise NonidealityError(f"{name} must be a probability in [0, 1], got {value!r}")

    @classmethod
    def dataset_default(cls) -> StuckCells:
        (k_lrs, n_lrs), (k_hrs, n_hrs) = DATASET_STUCK_LRS, DATASET_STUCK_HRS
        return cls(k_lrs / n_lrs, k_hrs / n_hrs, f"dataset default, not your data: {DATASET_SOURCE}",
                   {"stuck_lrs": DATASET_STUCK_LRS, "stuck_hrs": DATASET_STUCK_HRS})

    @property
    def is_default(self) -> bool:
        return self.source.startswith("dataset default")

    def probability(self, programmed: str) -> float:
        """P(a cell programmed to `programmed` keeps the other state)."""
        return {"lrs": self.stuck_hrs, "hrs": self.stuck_lrs}[programmed]

    def transition(self) -> TransitionMatrix:
        """Over the cell states (-1 HRS, +1 LRS): P(actual state | programmed state)."""
        return TransitionMatrix((-1, 1), np.array([[1 - self.stuck_lrs, self.stuck_lrs],
                                                   [self.stuck_hrs, 1 - self.stuck_hrs]]))

    def intervals(self) -> dict[str, list[float]]:
        """Clopper-Pearson 95 % intervals of measured rates (empty when given)."""
        out = {}
        for name, (count, trials) in (self.counts or {}).items():
            interval = binomial_interval(int(count), int(trials))
            out[name] = [interval.low, interval.high]
        return out

    def upper_bounds(self) -> StuckCells:
        """The pessimistic case: every measured rate at its 95 % upper bound."""
        bounds = self.intervals()
        if not bounds:
            return self
        return dataclasses.replace(self, stuck_lrs=bounds["stuck_lrs"][1], stuck_hrs=bounds["stuck_hrs"][1],
                                   source=f"95 % upper bounds of: {self.source}")

    def describe(self) -> str:
        return f"{self.source}: LRS {self.stuck_lrs:.3g}, HRS {self.stuck_hrs:.3g}" + (
            f" (95 % intervals {self.intervals()})" if self.counts else "")

    def to_dict(self) -> dict[str, Any]:
        return {"stuck_lrs": self.stuck_lrs, "stuck_hrs": self.stuck_hrs, "source": self.source,
                "counts": self.counts, "ci95": self.intervals()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StuckCells":
        counts = data.get("counts")
        return cls(data["stuck_lrs"], data["stuck_hrs"], data.get("source", "given"),
                   {name: (int(k), int(n)) for name, (k, n) in counts.items()} if counts else None)


# ------------------------------------------------------------------------ the whole device


@dataclasses.dataclass(frozen=True)
class DeviceNonideality:
    """The device's nonidealities (see the module docstring): `states` always, `read_noise`
    and `stuck` when they are to be simulated (None: ideal in that respect)."""

    states: ProgrammedStates = ProgrammedStates()
    read_noise: ReadNoise | None = None
    stuck: StuckCells | None = None

    def __post_init__(self) -> None:
        for name, kind in (("states", ProgrammedStates), ("read_noise", ReadNoise), ("stuck", StuckCells)):
            value = getattr(self, name)
            if value is not None and not isinstance(value, kind) or (name == "states" and value is None):
                raise NonidealityError(f"DeviceNonideality.{name}: expected a {kind.__name__}, got {value!r}")

    @classmethod
    def given(cls, lrs_median_ohm: float, lrs_sigma_ln: float, hrs_median_ohm: float, hrs_sigma_ln: float,
              **parts: Any) -> "DeviceNonideality":
        """Lognormal states given by their numbers (`ProgrammedStates.given`), other parts as keywords."""
        return cls(ProgrammedStates.given(lrs_median_ohm, lrs_sigma_ln, hrs_median_ohm, hrs_sigma_ln), **parts)

    # -- what issue-14 style callers need: a state's model, its fitted alternatives, draws
    def state(self, name: str) -> ResistanceModel:
        """The resistance model of state 'lrs' or 'hrs'."""
        return self.states.state(name)

    def alternatives(self, name: str) -> dict[str, ResistanceModel]:
        """Every model a fit produced for state `name`, by kind (empty when given)."""
        self.states.state(name)
        return dict(self.states.fitted.get(name, {}))

    def draw(self, rng: np.random.Generator, stored: int, count: int) -> np.ndarray:
        """Resistances (count x 2: BL device, BLb device) of `count` 2T2R cells storing
        `stored` (+1, -1, 0: `CELL_STATES`). With stuck cells, each device then keeps the
        other state with its stuck probability (one uniform per device, drawn after the
        states, and the other state's resistance drawn for those that stick)."""
        if stored not in CELL_STATES:
            raise NonidealityError(f"stored weight {stored!r} is not one of {sorted(CELL_STATES)}")
        columns = [self.states.draw(rng, name, count) for name in CELL_STATES[stored]]
        if self.stuck is not None:
            for column, name in zip(columns, CELL_STATES[stored]):
                stuck = rng.random(count) < self.stuck.probability(name)
                other = "hrs" if name == "lrs" else "lrs"
                column[stuck] = self.states.draw(rng, other, int(stuck.sum()))
        return np.column_stack(columns)

    # -- where the numbers come from
    @property
    def source(self) -> str:
        """Where the states come from, and the other parts when present."""
        parts = [self.states.source or ""]
        if self.read_noise is not None:
            parts.append(f"read noise: {self.read_noise.source}")
        if self.stuck is not None:
            parts.append(f"stuck cells: {self.stuck.source}")
        return "; ".join(parts)

    @property
    def uses_defaults(self) -> bool:
        """True when any part is a default (literature states, assumed read noise, dataset
        stuck cells) rather than the user's numbers."""
        return bool(self.defaults())

    def defaults(self) -> list[str]:
        """One line per part whose numbers are defaults."""
        lines = []
        if self.states.uses_literature_defaults:
            lines.append(f"device spread: {self.states.source} ({self.states.numbers()})")
        if self.read_noise is not None and self.read_noise.is_default:
            lines.append(f"read noise {self.read_noise.sigma_rel:g} per read: {self.read_noise.source}")
        if self.stuck is not None and self.stuck.is_default:
            lines.append(f"stuck cells: {self.stuck.describe()}")
        return lines

    def describe(self) -> str:
        """One line for consoles, artefacts and reports: where the spread came from, its
        numbers, and the other parts."""
        text = f"{self.states.source} ({self.states.numbers()})"
        if self.read_noise is not None:
            text += f"; read noise {self.read_noise.sigma_rel:g} per read ({self.read_noise.source})"
        if self.stuck is not None:
            text += f"; stuck cells {self.stuck.describe()}"
        return text

    def announce(self, log: Callable[[str], None] | None = None) -> str | None:
        """Say so (on stderr, or through `log`) when a run uses defaults instead of the
        user's data; returns the message, or None when there is nothing to say."""
        lines = self.defaults()
        if not lines:
            return None
        hint = ("; fit your cells with `circuitkit fit CELLS.csv --kind distribution` and pass its model card "
                "to use them") if self.states.uses_literature_defaults else ""
        message = "note: " + "; ".join(lines) + hint
        (log or _to_stderr)(message)
        return message

    # -- files
    def to_dict(self) -> dict[str, Any]:
        """JSON values; `from_dict` rebuilds an equal object."""
        return {"states": self.states.to_dict(),
                "read_noise": self.read_noise.to_dict() if self.read_noise is not None else None,
                "stuck": self.stuck.to_dict() if self.stuck is not None else None}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "DeviceNonideality":
        """Inverse of `to_dict`; also reads a bare programmed-states dictionary (what
        campaigns and characterization tables recorded as `spread` / `device_spread`)."""
        if "states" not in data:
            return cls(ProgrammedStates.from_dict(data))
        try:
            noise = data.get("read_noise")
            stuck = data.get("stuck")
            return cls(ProgrammedStates.from_dict(data["states"]),
                       ReadNoise(noise["sigma_rel"], noise.get("source", EXPLICIT_SOURCE)) if noise else None,
                       StuckCells.from_dict(stuck) if stuck else None)
        except (KeyError, TypeError) as error:
            raise NonidealityError(f"malformed device nonideality: {error!r}") from None

    @classmethod
    def from_model_card(cls, card: ModelCard, model: str = SUMMARY) -> "DeviceNonideality":
        """The states of a model card's resistance-distribution fit (an error if it has
        none); see `ProgrammedStates.from_model_card`."""
        return cls(ProgrammedStates.from_model_card(card, model))


# Field names `device_nonideality` accepts as overrides of the states.
SPREAD_FIELDS = ("lrs_median_ohm", "lrs_sigma_ln", "hrs_median_ohm", "hrs_sigma_ln")


def device_nonideality(card: ModelCard | None = None, overrides: Mapping[str, float | None] | None = None, *,
                       model: str = SUMMARY, read_noise: ReadNoise | None = None,
                       stuck: StuckCells | None = None) -> DeviceNonideality:
    """The device nonideality a run uses, with its source: the card's resistance-
    distribution fit when it has one, else the literature defaults; then each given
    override (keys `SPREAD_FIELDS`, None = not given) replaces one field of a lognormal
    state and is named in the source. `read_noise` and `stuck` are taken as given.

    `model`: which of the card's models the states are (SUMMARY, CHOSEN, or a kind; see
    `ProgrammedStates.from_model_card`; campaigns ask for CHOSEN). A card that holds only
    the lognormal summary falls back to it, and the source says so; an overridden state
    whose model is not a lognormal starts from the card's lognormal summary."""
    fitted = card is not None and "median_r_lrs" in card.variability
    if fitted and model != SUMMARY and not all(name.upper() in card.distributions for name in STATES):
        # An older card (lognormal summary only): its summary, and the source says why.
        base = ProgrammedStates.from_model_card(card, SUMMARY)
        base = dataclasses.replace(base, source=f"{base.source} (lognormal summary: the card holds no fitted "
                                                f"distribution models, {model!r} asked)")
    else:
        base = ProgrammedStates.from_model_card(card, model) if fitted else ProgrammedStates()
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    unknown = sorted(set(given) - set(SPREAD_FIELDS))
    if unknown:
        raise NonidealityError(f"unknown device-spread field(s) {', '.join(unknown)}; "
                               f"expected {', '.join(SPREAD_FIELDS)}")
    states = base
    if given:
        changed = {}
        for name in STATES:
            if not any(key.startswith(name) for key in given):
                changed[name] = base.state(name)
                continue
            # A state of another model is overridden from the card's lognormal summary.
            state = (base.state(name) if base.state(name).kind == "lognormal"
                     else ProgrammedStates.from_model_card(card, SUMMARY).lognormal(name))
            median = given.get(f"{name}_median_ohm", state.median)
            sigma = given.get(f"{name}_sigma_ln", state.sigma)
            # A fitted state keeps its cell count only while both of its numbers are the fit's.
            samples = state.samples if (median, sigma) == (state.median, state.sigma) else None
            changed[name] = lognormal_state(float(median), float(sigma), samples)
        if len(given) == len(SPREAD_FIELDS):
            source = EXPLICIT_SOURCE
        else:
            named = ", ".join(f"{key}={given[key]:g}" for key in SPREAD_FIELDS if key in given)
            source = f"{base.source}; {named} {EXPLICIT_SOURCE}"
        states = ProgrammedStates(changed["lrs"], changed["hrs"], source=source, fitted=base.fitted)
    return DeviceNonideality(states, read_noise, stuck)
