"""What decides a campaign's numbers: `CampaignConfig` (saved as campaign_config.json).

Its fields are the names of `circuitkit ber`'s options and of a flow file's [campaign]
keys (but `device`, the `DeviceNonideality` the cells are drawn from, which the model
card and the `--lrs-*`/`--hrs-*`/`--stuck-*` options fill). It makes and checks the
campaign's `OperatingPoint`s once (`points`); it runs nothing.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from circuitkit import CircuitkitError
from circuitkit.ber_table import SCHEME_ALPHABETS, Condition
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.device.nonideality import STATES, ProgrammedStates
from circuitkit.device.relaxation import RelaxationError, RetentionRead, relax_state
from circuitkit.operating import Corner, OperatingPoint

# mc: brute-force Monte Carlo; offset: the amplifier's measured offset integrated against
# the device model (corners/rare.py); is: importance sampling of the full circuit, every
# sample an ngspice read (corners/importance.py).
METHODS = ("mc", "offset", "is")
# Settings only the `is` method reads (recorded only for `is` campaigns, so the saved
# settings of other campaigns stay as they were).
IMPORTANCE_ONLY = ("pilot_samples",)


def relax_device(device: DeviceNonideality, read: RetentionRead | None) -> DeviceNonideality:
    """The device whose programmed states are read `read.read_after_s` after programming
    (`device.relaxation.relax_state` on each state, and on each fitted alternative that can
    be relaxed); stuck cells and read noise unchanged. None or 0 s: `device` itself. What a
    campaign draws from when it reads later (`CampaignConfig.retention`)."""
    if read is None or read.read_after_s == 0:
        return device
    model = read.model()
    states = device.states
    relaxed = {name: relax_state(states.state(name), model, read.read_after_s, read.temp_c) for name in STATES}
    fitted = {}
    for name, models in states.fitted.items():
        kept = {}
        for kind, alternative in models.items():
            try:
                kept[kind] = relax_state(alternative, model, read.read_after_s, read.temp_c)
            except RelaxationError:
                continue  # an empirical body cannot be relaxed: not an alternative of the relaxed state
        fitted[name] = kept
    source = f"{states.source}; relaxed: {read.label} ({read.extrapolation or 'within the retention data'})"
    # The relaxed states keep the programmed ones: `dataclasses.replace(config, ...)` hands the
    # relaxed device back to `CampaignConfig`, which must relax the programmed states again.
    return dataclasses.replace(device, states=ProgrammedStates(relaxed["lrs"], relaxed["hrs"], source=source,
                                                               fitted=fitted, relaxed_from=states))
# Points (ln of the BLb/BL resistance ratio) at which the `offset` method measures the
# probability that the sense amplifier reads +1; symmetric, denser near zero.
DEFAULT_OFFSET_POINTS = (-0.8, -0.4, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.4, 0.8)


@dataclasses.dataclass(frozen=True)
class CampaignConfig:
    """Everything that determines a campaign's numbers (saved as campaign_config.json).

    The grid is `corners` x `vdd` x `temp_c` (the names of `circuitkit ber --corners
    --vdd --temp-c` and of a flow file's [campaign] keys); each combination is one
    `OperatingPoint`, made and checked once here (`points`).
    """

    corners: tuple[Corner, ...] = (Corner.TT,)
    vdd: tuple[float, ...] = (1.8,)
    temp_c: tuple[float, ...] = (27.0,)
    scheme: str = "binary"
    samples: int = 256                 # per condition and stored value (mc, is), per offset point (offset)
    seed: int = 1
    method: str = "mc"
    # Sense circuits per ngspice run. 32 is where a read costs least CPU (bench/bench_corners.py
    # --sweep, bin-resolved library, tt 1.8 V with mismatch: 8 -> 12.8, 16 -> 11.8, 32 -> 11.9,
    # 64 -> 13.6, 128 -> 18.1 ms per read on one core): below it ngspice's start-up and parsing
    # dominate; above it every unit pays for the others, because all units of a transient share
    # one time step and each unit's switching events shorten it. Memory grows ~0.55 MB per unit.
    batch_size: int = 32
    device: DeviceNonideality = DeviceNonideality()   # the cells' programmed states (and stuck cells)
    offset_points: tuple[float, ...] = DEFAULT_OFFSET_POINTS
    mismatch: bool = True              # per-instance transistor mismatch (the PDK's own AGAUSS)
    # `is`: mismatch samples per offset point of the pilot run whose offset fit places the
    # proposal (corners/importance.py); a poor pilot costs efficiency, not bias.
    pilot_samples: int = 32
    # Read the cells a time after programming (`--read-after`, `--retention-temperature`):
    # `device` is then the relaxed device (`device.relaxation.relax_device`), what every draw
    # uses; `programmed` keeps the device as given, which is what the settings file records.
    retention: RetentionRead | None = None

    # The grid's operating points, corners outermost (the table's order); not a setting.
    points: tuple[OperatingPoint, ...] = dataclasses.field(init=False, repr=False, compare=False)
    programmed: DeviceNonideality = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("corners", "vdd", "temp_c", "offset_points"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.corners or not self.vdd or not self.temp_c:
            raise CircuitkitError("a campaign needs at least one corner, one supply and one temperature")
        # The points' own check (the netlists' range), here, so a campaign never starts a job it cannot run.
        try:
            points = tuple(OperatingPoint(corner, vdd, temp)
                           for corner in self.corners for vdd in self.vdd for temp in self.temp_c)
        except CircuitkitError as error:
            raise CircuitkitError(f"campaign: {error}") from None
        # Normalised as the points are (a flow file's `temp_c = [27]` is 27.0 like --temp-c 27).
        object.__setattr__(self, "corners", tuple(Corner(corner) for corner in self.corners))
        object.__setattr__(self, "vdd", tuple(float(vdd) for vdd in self.vdd))
        object.__setattr__(self, "temp_c", tuple(float(temp) for temp in self.temp_c))
        object.__setattr__(self, "points", points)
        if self.scheme not in SCHEME_ALPHABETS:
            raise CircuitkitError(f"unknown scheme {self.scheme!r}; expected one of {', '.join(SCHEME_ALPHABETS)}")
        if self.method not in METHODS:
            raise CircuitkitError(f"unknown method {self.method!r}; expected one of {', '.join(METHODS)}")
        if self.method in ("offset", "is") and self.scheme != "binary":
            raise CircuitkitError(f"the {self.method} (rare-event) method models a binary decision; "
                                  "use --method mc for ternary")
        for name in ("samples", "batch_size", "seed", "pilot_samples"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if name == "seed" else 1):
                raise CircuitkitError(f"campaign: {name}={value!r}: expected a whole number >= {0 if name == 'seed' else 1}")
        if self.method in ("offset", "is") and len(self.offset_points) < 3:
            raise CircuitkitError(f"the {self.method} method needs at least 3 offset points")
        if not isinstance(self.device, DeviceNonideality):
            raise CircuitkitError(f"campaign: device={self.device!r}: expected a DeviceNonideality "
                                  "(circuitkit.device.nonideality)")
        if self.retention is not None and not isinstance(self.retention, RetentionRead):
            raise CircuitkitError(f"campaign: retention={self.retention!r}: expected a RetentionRead "
                                  "(circuitkit.device.relaxation)")
        # A relaxed device (what `dataclasses.replace(config, ...)` hands back) is programmed
        # with the states it was relaxed from; its stuck cells and read noise are its own.
        states = self.device.states
        programmed = self.device if states.relaxed_from is None else \
            dataclasses.replace(self.device, states=states.relaxed_from)
        object.__setattr__(self, "programmed", programmed)
        object.__setattr__(self, "device", relax_device(programmed, self.retention))
        # Say what the read simulation cannot do rather than ignore it.
        if self.device.read_noise is not None:
            raise CircuitkitError("campaign: the 2T2R read draws programmed states once per read; read noise "
                                  "is not simulated by campaigns (leave DeviceNonideality.read_noise None)")
        if self.method == "offset" and self.device.stuck is not None:
            raise CircuitkitError("campaign: the offset method's integral does not include stuck cells; "
                                  "use --method mc with stuck cells")
        if self.method == "is" and self.device.stuck is not None:
            raise CircuitkitError("campaign: the is method's likelihood ratio does not include stuck cells; "
                                  "use --method mc with stuck cells")

    def conditions(self) -> list[Condition]:
        return [Condition.at(point, self.scheme) for point in self.points]

    def to_dict(self) -> dict[str, Any]:
        """The settings as JSON values (corners as their names)."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if field.init and (self.method == "is" or field.name not in IMPORTANCE_ONLY)}
        return {**data, "corners": [corner.value for corner in self.corners], "vdd": list(self.vdd),
                "temp_c": list(self.temp_c), "offset_points": list(self.offset_points),
                "device": self.programmed.to_dict(),
                "retention": self.retention.to_dict() if self.retention is not None else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CampaignConfig":
        """Inverse of `to_dict`; also reads the `spread` (programmed states only) that
        earlier campaign_config.json files hold."""
        data = dict(data)
        device = data.pop("device", None) or data.pop("spread")
        retention = data.pop("retention", None)
        return cls(**data, device=DeviceNonideality.from_dict(device),
                   retention=RetentionRead.from_dict(retention) if retention else None)
