"""The whole flow from a configuration file: measurements -> model card -> netlists ->
PVT bit-error tables -> network accuracy -> report.

- `config`: `FlowConfig`, from a FLOW.toml or Python; it reuses the stages' configs
  (`CampaignConfig` for [campaign], `NetworkConfig` for [network], `SnnConfig` for
  [snn]), so a setting has one name from the command line to the flow file to Python.
- `stages`: `Flow` runs the stages in order, each in its own directory, skipping what is
  up to date (`run_flow`).
- `demo`: `demo_flow`, the flow `circuitkit demo` / `make demo` runs on the bundled data.
- `cli`: `circuitkit run FLOW.toml` and `circuitkit demo`.

The flow orchestrates: it calls the stages and records what they did; it computes no
result of its own and draws through `circuitkit.report`. No stage imports it.
"""

from circuitkit.flow.cli import add_parser
from circuitkit.flow.config import CAMPAIGN_KEYS, FLOW_CAMPAIGN, FLOW_NETWORK, FLOW_SNN, FlowConfig
from circuitkit.flow.demo import demo_flow
from circuitkit.flow.stages import Flow, StageRecord, run_flow

__all__ = ["CAMPAIGN_KEYS", "FLOW_CAMPAIGN", "FLOW_NETWORK", "FLOW_SNN", "Flow", "FlowConfig", "StageRecord",
           "add_parser", "demo_flow", "run_flow"]
