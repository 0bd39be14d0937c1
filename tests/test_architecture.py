"""The package's shape: no import cycle, one name per setting from the command line to the
flow file to Python (no ngspice here)."""

from __future__ import annotations

import argparse
import ast
import dataclasses
from pathlib import Path

import pytest

from circuitkit import CircuitkitError
from circuitkit.corners.config import CampaignConfig

PACKAGE = Path(__file__).resolve().parent.parent / "circuitkit"


def _module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at the top or inside functions (a lazy
    import is still a dependency). Importing `a.b.c` also runs `a` and `a.b`, so those
    count too; a module's own parent packages do not (Python initialises them first)."""
    files = {_module_name(path, package): path for path in package.rglob("*.py")}

    def targets(name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1) if ".".join(parts[:i]) in files}

    graph = {}
    for name, path in files.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    found |= targets(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    package_parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                    package_parts = package_parts[:len(package_parts) - node.level + 1]
                    base = ".".join([*package_parts, *([base] if base else [])])
                found |= targets(base)
                for alias in node.names:
                    found |= targets(f"{base}.{alias.name}")
        graph[name] = {target for target in found if target != name and not name.startswith(target + ".")}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[module] = "done"
        stack.pop()
        return None

    for module in sorted(graph):
        if module not in state and (cycle := visit(module)):
            return cycle
    return None


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 40 and "circuitkit.corners.reads" in graph["circuitkit.corners.cli"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_through_a_lazy_import(tmp_path):
    """The walk sees imports inside functions and relative imports."""
    package = tmp_path / "circuitkit"
    (package / "stage").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "stage" / "__init__.py").write_text("")
    (package / "stage" / "campaign.py").write_text("def run():\n    from circuitkit.stage.reads import simulate\n")
    (package / "stage" / "reads.py").write_text("from .campaign import run\n")
    assert find_cycle(import_graph(package)) == ["circuitkit.stage.campaign", "circuitkit.stage.reads",
                                                 "circuitkit.stage.campaign"]


# The intended layering: each part of the package and the parts it may import (besides
# itself). Neutral modules import no stage; a stage imports the stages it is built on, never a
# sibling it merely sits beside; `report` draws and writes from what it is given, so every
# stage may call it and it calls none; only `flow` and the CLIs see everything.
NEUTRAL = frozenset({"circuitkit", "operating", "stats", "files", "resources", "seeding", "training", "argtypes",
                     "ber_table", "sense_offset", "position_rates", "measurements", "toolchain"})
LAYERS: dict[str, frozenset[str]] = {
    **{module: NEUTRAL for module in NEUTRAL},
    "spice": NEUTRAL,
    "report": NEUTRAL,
    "device": NEUTRAL | {"spice", "report"},
    "netlist": NEUTRAL | {"spice", "device"},
    "corners": NEUTRAL | {"spice", "device", "netlist", "report"},
    "inject": NEUTRAL | {"device", "report"},
    # The SNN reads the networks' data sets and error sampler (`inject.data`,
    # `inject.sampler`) and simulates its neuron; it never imports the PVT campaigns.
    "snn": NEUTRAL | {"spice", "device", "netlist", "inject", "report"},
    # Multi-level programming sits on the device models; the crossbar on the cells it
    # programs and the array wires; learning on the crossbar and the networks' data sets.
    "mlc": NEUTRAL | {"device", "report"},
    "crossbar": NEUTRAL | {"device", "netlist", "mlc", "report"},
    "learn": NEUTRAL | {"device", "inject", "mlc", "crossbar", "report"},
    # Programming sits on the benches, the device models, the read campaigns it feeds and mlc's checkpoints.
    "program": NEUTRAL | {"spice", "device", "netlist", "corners", "inject", "mlc", "report"},
    "flow": NEUTRAL | {"spice", "device", "netlist", "corners", "inject", "snn", "mlc", "program", "report"},
    "toolchain_cli": NEUTRAL,
    "cli": NEUTRAL | {"spice", "device", "netlist", "corners", "inject", "snn", "report", "flow", "toolchain_cli"},
}


def _part(module: str) -> str:
    """`circuitkit.corners.reads` -> `corners`; `circuitkit` -> `circuitkit`."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def layering_violations(graph: dict[str, set[str]], layers: dict[str, frozenset[str]]) -> list[str]:
    """Every import the layering does not allow, as 'importer -> imported'; a part missing
    from `layers` is a violation too (a new part must say where it sits)."""
    found = []
    for module, targets in sorted(graph.items()):
        part = _part(module)
        if part not in layers:
            found.append(f"{module}: part '{part}' has no place in the layering")
            continue
        found += [f"{module} -> {target}" for target in sorted(targets)
                  if _part(target) != part and _part(target) not in layers[part]]
    return found


def test_the_package_imports_follow_the_layering():
    """snn does not import corners, inject does not import corners or netlist, neutral
    modules import no stage, report draws without importing a stage..."""
    violations = layering_violations(import_graph(), LAYERS)
    assert violations == [], "imports against the layering:\n" + "\n".join(violations)


def test_the_layering_check_finds_a_sibling_import_inside_a_function(tmp_path):
    package = tmp_path / "circuitkit"
    for part in ("snn", "corners"):
        (package / part).mkdir(parents=True)
        (package / part / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "seeding.py").write_text("")
    (package / "corners" / "spread.py").write_text("from circuitkit.seeding import x\n")
    (package / "snn" / "cells.py").write_text("def draw():\n    from circuitkit.corners import spread\n")
    layers = {"circuitkit": NEUTRAL, "seeding": NEUTRAL, "corners": NEUTRAL, "snn": NEUTRAL}
    assert layering_violations(import_graph(package), layers) == ["circuitkit.snn.cells -> circuitkit.corners",
                                                                  "circuitkit.snn.cells -> circuitkit.corners.spread"]
    assert layering_violations(import_graph(package), {**layers, "snn": NEUTRAL | {"corners"}}) == []
    del layers["snn"]
    assert layering_violations(import_graph(package), layers) == [f"circuitkit.snn{module}: part 'snn' has no place "
                                                                  "in the layering" for module in ("", ".cells")]


def _campaign_settings() -> set[str]:
    return {field.name for field in dataclasses.fields(CampaignConfig) if field.init}


def test_the_ber_command_names_its_options_after_the_campaign_fields():
    """`circuitkit ber --vdd` fills `CampaignConfig.vdd`, `--temp-c` fills `temp_c`...: every
    campaign setting but the device (from --model-card and the --lrs-/--hrs-/--stuck- options) has
    the option of its own name, and the options build the config field by field."""
    from circuitkit.cli import build_parser
    from circuitkit.corners.cli import config_from_args

    parser = build_parser()
    ber = parser._subparsers._group_actions[0].choices["ber"]
    destinations = {action.dest for action in ber._actions if not isinstance(action, argparse._HelpAction)}
    assert _campaign_settings() - {"device"} <= destinations
    args = parser.parse_args(["ber", "--corners", "ss,ff", "--vdd", "0.9,1.2", "--temp-c=-40,125", "--samples", "7",
                              "--batch-size", "3", "--seed", "9", "--method", "offset", "--offset-points=-0.1,0,0.1",
                              "--no-mismatch", "-o", "unused"])
    config = config_from_args(args, None)
    assert (config.corners, config.vdd, config.temp_c, config.samples, config.batch_size, config.seed, config.method,
            config.offset_points, config.mismatch) == \
        (("ss", "ff"), (0.9, 1.2), (-40.0, 125.0), 7, 3, 9, "offset", (-0.1, 0.0, 0.1), False)
    assert parser.parse_args(["ber", "--temp", "85", "-o", "x"]).temp_c == (85.0,)   # the older spelling


def test_a_flow_file_takes_the_campaign_fields_by_their_names(tmp_path):
    """[campaign] keys are CampaignConfig field names; [campaign.ternary] / [campaign.rare]
    say how those campaigns differ; `ternary = false` drops one."""
    from circuitkit.flow import CAMPAIGN_KEYS, FlowConfig

    # The flow decides the retention read too: its [retention] table and the fitted relaxation.
    assert set(CAMPAIGN_KEYS) == _campaign_settings() - {"scheme", "method", "seed", "device", "retention"}
    flow = tmp_path / "FLOW.toml"
    flow.write_text("[flow]\nseed = 5\n[campaign]\ncorners = ['ss']\nvdd = [1.1, 1.5]\ntemp_c = [85]\nsamples = 12\n"
                    "batch_size = 6\nmismatch = false\nrare = false\n[campaign.ternary]\nvdd = [0.95]\n")
    campaigns = FlowConfig.from_toml(flow).campaigns()
    assert set(campaigns) == {"ber_binary", "ber_ternary"}
    binary, ternary = campaigns["ber_binary"], campaigns["ber_ternary"]
    assert (binary.corners, binary.vdd, binary.temp_c, binary.samples, binary.batch_size, binary.mismatch,
            binary.seed) == (("ss",), (1.1, 1.5), (85.0,), 12, 6, False, 5)
    assert ternary == dataclasses.replace(binary, scheme="ternary", vdd=(0.95,))
    flow.write_text("[campaign.rare]\nscheme = 'ternary'\n")
    with pytest.raises(CircuitkitError, match=r"\[campaign.rare\]: unknown key\(s\) scheme"):
        FlowConfig.from_toml(flow)
    flow.write_text("[campaign]\nvdd = [2.5]\n")
    with pytest.raises(CircuitkitError, match=r"FLOW.toml: campaign: operating point: vdd=2.5 V is outside"):
        FlowConfig.from_toml(flow)


def test_the_network_and_snn_settings_have_the_names_of_their_commands_options(tmp_path):
    """[network] keys are `NetworkConfig` fields and `circuitkit inject` options of the same
    name fill them; [snn] keys are `SnnConfig` fields, `circuitkit snn --chips` fills `chips`;
    the keys of earlier versions are refused naming their new place."""
    from circuitkit.cli import build_parser
    from circuitkit.flow import FLOW_NETWORK, FlowConfig
    from circuitkit.inject.cli import network_config
    from circuitkit.inject.config import NetworkConfig
    from circuitkit.snn.config import SnnConfig

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    inject = {action.dest for action in commands["inject"]._actions}
    snn = {action.dest for action in commands["snn"]._actions}
    # bnn/tnn are the flow's two roles of `--network` (network_config fills bnn from it).
    assert {field.name for field in dataclasses.fields(NetworkConfig)} - {"bnn", "tnn"} <= inject
    assert {field.name for field in dataclasses.fields(SnnConfig)} <= snn
    args = parser.parse_args(["inject", "--tolerance", "--network", "tnn", "--dataset", "digits", "--trials", "7",
                              "--ber-range", "1e-4:0.1", "--points-per-decade", "3", "--bootstrap", "50", "-o", "x"])
    assert network_config(args) == NetworkConfig(bnn="tnn", dataset="digits", trials=7, ber_range=(1e-4, 0.1),
                                                 points_per_decade=3, bootstrap=50)
    assert parser.parse_args(["snn", "--chips", "3", "-o", "x"]).chips == 3
    assert parser.parse_args(["snn", "--trials", "4", "-o", "x"]).chips == 4     # the older spelling

    flow = tmp_path / "FLOW.toml"
    flow.write_text("[network]\ntrials = 6\nber_range = [1e-4, 0.1]\nbootstrap = 30\n[snn]\nchips = 0\n")
    config = FlowConfig.from_toml(flow)
    assert config.network == dataclasses.replace(FLOW_NETWORK, trials=6, ber_range=(1e-4, 0.1), bootstrap=30)
    assert config.snn == SnnConfig(chips=0)
    assert (config.tolerance().trials, config.tolerance().bootstrap, config.tolerance().seed) == (6, 30, config.seed)
    flow.write_text("[network]\nsweep_ber = [1e-4, 0.1]\n")
    with pytest.raises(CircuitkitError, match=r"\[network\]: unknown key\(s\) sweep_ber.*sweep_ber is now "
                                              r"\[network\] ber_range"):
        FlowConfig.from_toml(flow)
    flow.write_text("[snn]\nchips = 1\n")
    with pytest.raises(CircuitkitError, match=r"FLOW.toml: snn: chips=1: expected 0"):
        FlowConfig.from_toml(flow)
