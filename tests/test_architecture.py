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

    assert set(CAMPAIGN_KEYS) == _campaign_settings() - {"scheme", "method", "seed", "device"}
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
