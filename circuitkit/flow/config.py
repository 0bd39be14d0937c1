"""A flow's configuration: `FlowConfig`, made from a FLOW.toml (`from_toml`) or in Python.

It reuses the stages' own configs, so a setting has one name from the command line to
the flow file to Python:

    [campaign]            CampaignConfig fields   (`circuitkit ber --vdd` -> vdd ...)
    [campaign.ternary]    what the ternary campaign changes ([campaign.rare]: the rare-event one);
                          `ternary = false` / `rare = false` drops that campaign
    [network]             NetworkConfig fields    (`circuitkit inject --trials` -> trials ...)
    [snn]                 SnnConfig fields        (`circuitkit snn --chips` -> chips)
    [mlc]                 MlcConfig fields        (`circuitkit mlc --cells-per-level` -> cells_per_level ...);
                          no [mlc] table: no multi-level stage
    [disturb]             DisturbConfig fields    (`circuitkit disturb --reads` -> reads ...);
                          no [disturb] table: no read-disturb stage
    [program]             TradeoffConfig fields   (`circuitkit program --v-wl` -> v_wl ...);
                          no [program] table: no programming trade-off stage
    [measurements]        the fit stages' files and reader options (`MeasurementSpec`); `retention`
                          (bake or retention files) adds a relaxation fit and a BER-vs-time stage
    [retention]           read_after (e.g. ["1s", "1d", "10y"]), temp_c: when and where that stage reads
    [flow], [pdk]         output, seed, workers; the user's PDK

It checks everything (operating points, grids) when made, before a fit spends minutes on
a flow that cannot run; it runs nothing.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from circuitkit import CircuitkitError
from circuitkit.corners.config import CampaignConfig
from circuitkit.corners.disturb import DisturbConfig
from circuitkit.inject.config import NetworkConfig
from circuitkit.snn.config import SnnConfig

if TYPE_CHECKING:
    from circuitkit.device.characterize import MeasurementSpec
    from circuitkit.mlc.campaign import MlcConfig
    from circuitkit.program.tradeoff import TradeoffConfig

# The campaigns of a flow: a binary Monte Carlo campaign (`campaign`), and, derived from
# it by the overrides `ternary` and `rare`, a ternary one and a rare-event (offset method)
# one. Their seed and device are the flow's.
FLOW_CAMPAIGN = CampaignConfig(corners=("tt", "ss", "ff"), vdd=(1.2, 1.8), samples=128)
TERNARY_OVERRIDES = {"vdd": (0.9,), "samples": 64}
RARE_OVERRIDES = {"samples": 32}
FLOW_NETWORK = NetworkConfig(trials=50)
FLOW_SNN = SnnConfig(chips=10)
# What a flow file's [campaign] may set: the CampaignConfig fields the flow does not decide itself.
FLOW_DECIDES = ("scheme", "method", "seed", "device", "retention")
CAMPAIGN_KEYS = tuple(f.name for f in dataclasses.fields(CampaignConfig) if f.init and f.name not in FLOW_DECIDES)
NETWORK_KEYS = tuple(f.name for f in dataclasses.fields(NetworkConfig))
SNN_KEYS = tuple(f.name for f in dataclasses.fields(SnnConfig))
# What a flow file's [mlc] may set (`mlc.campaign.MlcConfig`; the seed is the flow's).
MLC_KEYS = ("levels", "g_low", "g_high", "scheme", "tolerance", "max_pulses", "cells_per_level", "batch_size",
            "read_noise_scale")
# What a flow file's [program] may set (`program.tradeoff.TradeoffConfig`; the seed is the flow's).
PROGRAM_KEYS = ("v_wl", "width", "verify", "set_amplitude", "target_ohm", "max_pulses", "step_v_wl", "cells",
                "batch_size", "read_samples", "offset_samples", "corner", "vdd", "temp_c", "networks", "trials")
# Keys an earlier circuitkit read, and where they live now (named in the error).
MOVED_KEYS = {("network", "sweep_ber"): "[network] ber_range", ("network", "snn_chips"): "[snn] chips"}


@dataclasses.dataclass(frozen=True)
class FlowConfig:
    """A flow: the user's measurements, PDK, campaigns and networks (see the README's FLOW.toml).

    `campaign` is the binary Monte Carlo campaign; `ternary` and `rare` are the fields in
    which the ternary and the rare-event campaigns differ from it (None: no such
    campaign). `campaigns()` gives all of them, with the flow's seed.
    """

    output: Path
    iv: Path | None = None
    distribution: MeasurementSpec | None = None    # a path, or files + reader options (device.characterize)
    levels: MeasurementSpec | None = None          # low-field reads of many cells (address, voltage, current)
    pulse: MeasurementSpec | None = None           # 1T1R pulse sweeps (SET and RESET fitted jointly)
    sweep_rate: float | None = None          # V/s, for I-V files without a time column
    fit_temp_c: float = 27.0
    pdk_models: Path | None = None
    campaign: CampaignConfig = FLOW_CAMPAIGN
    ternary: Mapping[str, Any] | None = dataclasses.field(default_factory=lambda: dict(TERNARY_OVERRIDES))
    rare: Mapping[str, Any] | None = dataclasses.field(default_factory=lambda: dict(RARE_OVERRIDES))
    network: NetworkConfig = FLOW_NETWORK
    snn: SnnConfig = FLOW_SNN
    mlc: MlcConfig | None = None                   # multi-level write-verify stage (None: none)
    retention: MeasurementSpec | None = None       # retention/bake files: relaxation fit + BER vs time stage
    # The BER-vs-time stage's read times (1 h at 85 C lies within the bundled bakes; the others beyond).
    read_after: tuple[str, ...] = ("1s", "1h", "1d", "10y")
    retention_temp_c: float = 85.0                 # ... and the temperature the cells spend them at
    disturb: DisturbConfig | None = None           # read disturb over a lifetime (None: no such stage)
    program: TradeoffConfig | None = None          # programming energy vs BER stage (None: none)
    workers: int = 2
    seed: int = 1

    def __post_init__(self) -> None:
        # Every campaign checked (operating points included) before the fits spend minutes
        # on a flow that cannot run.
        self.campaigns()
        from circuitkit.device.relaxation import parse_duration

        for value in self.read_after:
            parse_duration(value)

    def campaigns(self, device=None) -> dict[str, CampaignConfig]:
        """Stage name -> campaign, each with the flow's seed and (when given) `device`."""
        base = {"seed": self.seed, **({"device": device} if device is not None else {})}
        derived = {"ber_binary": {}, "ber_ternary": self.ternary, "ber_rare": self.rare}
        fixed = {"ber_binary": {}, "ber_ternary": {"scheme": "ternary"}, "ber_rare": {"method": "offset"}}
        campaigns = {}
        for name, overrides in derived.items():
            if overrides is None:
                continue
            unknown = sorted(set(overrides) - set(CAMPAIGN_KEYS))
            if unknown:
                raise CircuitkitError(f"flow campaign {name}: unknown setting(s) {', '.join(unknown)}; "
                                      f"expected {', '.join(CAMPAIGN_KEYS)}")
            try:
                campaigns[name] = dataclasses.replace(self.campaign, **overrides, **fixed[name], **base)
            except CircuitkitError as error:
                raise CircuitkitError(f"flow campaign {name}: {error}") from None
        return campaigns

    def mlc_config(self) -> "MlcConfig | None":
        """The multi-level stage's campaign with the flow's seed (None: no such stage)."""
        return None if self.mlc is None else dataclasses.replace(self.mlc, seed=self.seed)

    def program_config(self) -> "TradeoffConfig | None":
        """The programming trade-off stage's sweep with the flow's seed (None: no such stage)."""
        return None if self.program is None else dataclasses.replace(self.program, seed=self.seed)

    def tolerance(self):
        """The tolerance stage's curves: the network settings with the flow's seed."""
        return self.network.tolerance(self.seed)

    @classmethod
    def from_toml(cls, path: Path | str) -> "FlowConfig":
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise CircuitkitError(f"cannot read flow file {path}: {error}") from error
        base = path.parent
        sections = {"flow", "measurements", "pdk", "campaign", "network", "snn", "mlc", "disturb", "program",
                    "retention"}
        unknown = sorted(set(data) - sections)
        if unknown:
            raise CircuitkitError(f"{path}: unknown section(s) {', '.join(unknown)}; expected {', '.join(sorted(sections))}")

        def section(name: str, allowed: Sequence[str], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
            values = data.get(name, {}) if values is None else values
            extra = sorted(set(values) - set(allowed))
            if extra:
                moved = [f"{key} is now {MOVED_KEYS[(name, key)]}" for key in extra if (name, key) in MOVED_KEYS]
                raise CircuitkitError(f"{path}, [{name}]: unknown key(s) {', '.join(extra)}; expected "
                                      f"{', '.join(allowed)}" + (f" ({'; '.join(moved)})" if moved else ""))
            return dict(values)

        flow = section("flow", ["output", "seed", "workers"])
        measurements = section("measurements", ["iv", "levels", "pulse", "distribution", "retention", "sweep_rate",
                                                "temp_c"])
        retention = section("retention", ["read_after", "temp_c"])
        pdk = section("pdk", ["models"])
        campaign = section("campaign", [*CAMPAIGN_KEYS, "ternary", "rare"])
        network = section("network", NETWORK_KEYS)
        snn = section("snn", SNN_KEYS)
        mlc = section("mlc", MLC_KEYS)
        disturb = section("disturb", [f.name for f in dataclasses.fields(DisturbConfig)])
        program = section("program", PROGRAM_KEYS)

        def resolve(value: str | None) -> Path | None:
            if value is None:
                return None
            candidate = Path(value).expanduser()
            return candidate if candidate.is_absolute() else (base / candidate).resolve()

        def network_spec(value: str) -> str:
            from circuitkit.inject.networks import is_bundled

            return value if is_bundled(value) else str(resolve(value))

        fields: dict[str, Any] = {"output": resolve(flow.get("output", "flow-output"))}
        for key in ("seed", "workers"):
            if key in flow:
                fields[key] = int(flow[key])
        from circuitkit.device.characterize import MeasurementSpec

        if "iv" in measurements:
            fields["iv"] = resolve(measurements["iv"])
        if "read_after" in retention:
            fields["read_after"] = tuple(str(v) for v in retention["read_after"])
        if "temp_c" in retention:
            fields["retention_temp_c"] = float(retention["temp_c"])
        for key in ("levels", "pulse", "distribution", "retention"):
            if key in measurements:
                fields[key] = MeasurementSpec.from_toml(measurements[key], base, f"{path}, [measurements] {key}")
        if "sweep_rate" in measurements:
            fields["sweep_rate"] = float(measurements["sweep_rate"])
        if "temp_c" in measurements:
            fields["fit_temp_c"] = float(measurements["temp_c"])
        if "models" in pdk:
            fields["pdk_models"] = resolve(pdk["models"])
        # [campaign] holds CampaignConfig fields by their names; `ternary` / `rare` are false
        # (no such campaign) or a [campaign.ternary] / [campaign.rare] table of what differs.
        for name in ("ternary", "rare"):
            if name in campaign:
                value = campaign.pop(name)
                if value is not False and not isinstance(value, dict):
                    raise CircuitkitError(f"{path}, [campaign] {name}: expected false or a [campaign.{name}] table")
                fields[name] = None if value is False else section(f"campaign.{name}", CAMPAIGN_KEYS, value)
        for key in ("bnn", "tnn"):
            if key in network:
                network[key] = network_spec(network[key])
        try:
            if "mlc" in data:
                from circuitkit.mlc.campaign import MlcConfig

                fields["mlc"] = MlcConfig(**mlc)
            if "disturb" in data:
                fields["disturb"] = DisturbConfig(**disturb)
            if "program" in data:
                from circuitkit.program.tradeoff import TradeoffConfig

                fields["program"] = TradeoffConfig(**program)
            config = cls(**fields, campaign=dataclasses.replace(FLOW_CAMPAIGN, **campaign),
                         network=dataclasses.replace(FLOW_NETWORK, **network), snn=dataclasses.replace(FLOW_SNN, **snn))
        except (CircuitkitError, TypeError, ValueError) as error:
            raise CircuitkitError(f"{path}: {error}") from None
        if config.iv is not None and not config.iv.exists():
            raise CircuitkitError(f"{path}, [measurements] iv: file {config.iv} does not exist")
        return config

