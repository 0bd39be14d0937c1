"""Validation of the rare-event bit-error rates against each other and against brute force
(issue 14, item 5): prints every estimate with its interval and whether they agree.

(a) Where brute force can measure (BER near 1e-3, tt 1.8 V 27 C, overlapping states):
    `mc` with --mc-reads reads per stored value (>= 20,000 asked by the issue), `is` and
    `offset`; each pair of intervals must overlap. Printed beside them: what an amplifier
    with its offset forced to zero would predict (the offset fit's x0 and sigma set to 0).
(c) Near 1e-6 (tt 1.8 V 27 C, LRS/HRS 13x apart with a wide HRS, the cells' spread
    dominating): `is` and `offset` must agree within their intervals.

Every read is an ngspice read of the 2T2R + PCSA with the PDK's mismatch. The campaigns
are resumable: rerun the same command to finish an interrupted run (another --mc-reads
needs another --output). The always-run counterparts are tests/test_importance.py (the
`is` estimator against an exact 1e-6, and with wrong weights) and tests/test_corners.py
(offset vs brute force where the offset dominates; a zero-offset amplifier fails).

    nice -n 5 .venv/bin/python bench/bench_rare_validation.py [--mc-reads 20000] [--is-reads 4000]
        [--offset-samples 64] [--pilot-samples 32] [--workers 2] [--output out/rare_validation]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from circuitkit.corners.campaign import CampaignConfig, run_campaign
from circuitkit.corners.reads import PcsaReadSimulator
from circuitkit.device.nonideality import DeviceNonideality
from circuitkit.sense_offset import OffsetFit, error_probabilities

# (a): ln(80k/20k) = 1.39 against a total spread sqrt(2 * 0.3^2 + sigma_amp^2) ~ 0.46: ~1e-3.
MEASURABLE = DeviceNonideality.given(20e3, 0.3, 80e3, 0.3)
# (c): ln(130k/10k) = 2.56 against sqrt(0.1^2 + 0.5^2 + sigma_amp^2) ~ 0.54: ~1e-6.
RARE = DeviceNonideality.given(10e3, 0.1, 130e3, 0.5)


def _errors(result) -> dict[int, tuple[float, float, float, int]]:
    """P(misread | stored): (estimate, ci_low, ci_high, samples) per stored value."""
    return {row.stored: (row.probability, row.ci_low, row.ci_high, row.samples)
            for row in result.table if row.read == -row.stored}


def _overlap(a, b) -> bool:
    return a[1] <= b[2] and b[1] <= a[2]


def _campaign(name: str, config: CampaignConfig, output: Path, workers: int):
    started = time.perf_counter()
    result = run_campaign(config, output / name, simulator=PcsaReadSimulator(), workers=workers, progress=False)
    print(f"  {name}: {result.summary['samples_simulated']} reads ({result.summary['failed_samples']} failed), "
          f"{time.perf_counter() - started:.0f} s now", flush=True)
    return result


def _print_rows(label: str, estimates: dict[int, tuple], extra: dict[int, str] | None = None) -> None:
    for stored, (estimate, low, high, samples) in sorted(estimates.items()):
        note = (extra or {}).get(stored, "")
        print(f"    {label:<22} stored {stored:+d}: {estimate:10.3e}  [{low:9.3e}, {high:9.3e}]  n={samples}{note}")


def _is_notes(result) -> dict[int, str]:
    return {row["stored"]: f", {row['failures_seen']} failing, ESS {row['effective_sample_size']:.0f}, "
                           f"rel. s.e. {row['relative_error']:.2f}"
            for row in result.summary["importance"]["rows"]}


def validate(name: str, device: DeviceNonideality, output: Path, args, *, with_mc: bool) -> bool:
    common = dict(corners=("tt",), vdd=(1.8,), temp_c=(27.0,), seed=args.seed, device=device, batch_size=32)
    print(f"\n({name}) tt 1.8 V 27 C, {device.states.numbers()}", flush=True)
    methods = {}
    if with_mc:
        methods["mc"] = _campaign("mc", CampaignConfig(samples=args.mc_reads, **common), output / name, args.workers)
    methods["offset"] = _campaign("offset", CampaignConfig(samples=args.offset_samples, method="offset", **common),
                                  output / name, args.workers)
    methods["is"] = _campaign("is", CampaignConfig(samples=args.is_reads, method="is", pilot_samples=args.pilot_samples,
                                                   **common), output / name, args.workers)
    estimates = {method: _errors(result) for method, result in methods.items()}
    for method, values in estimates.items():
        _print_rows(method, values, _is_notes(methods["is"]) if method == "is" else None)
    fit = OffsetFit.from_dict(methods["offset"].summary["offset_fits"][0])
    print(f"    offset fit: x0 {fit.x0:+.4f}, sigma {fit.sigma:.4f} (ln of the resistance ratio), "
          f"{int(fit.trials.sum())} reads")
    zero = OffsetFit(0.0, 0.0, np.zeros((2, 2)), fit.points, fit.trials, fit.read_plus, False)
    _print_rows("offset forced to zero", {s: (*v, 0) for s, v in error_probabilities(zero, device.states).items()})
    agree = True
    names = list(estimates)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            for stored in (+1, -1):
                ok = _overlap(estimates[first][stored], estimates[second][stored])
                agree &= ok
                print(f"    {first} vs {second}, stored {stored:+d}: intervals {'overlap' if ok else 'DISAGREE'}")
    return agree


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mc-reads", type=int, default=20000, help="(a) brute-force reads per stored value")
    parser.add_argument("--is-reads", type=int, default=4000, help="importance-sampling reads per stored value")
    parser.add_argument("--offset-samples", type=int, default=64, help="mismatch samples per offset point")
    parser.add_argument("--pilot-samples", type=int, default=32, help="the is pilot's samples per offset point")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=Path("out/rare_validation"))
    parser.add_argument("--only", choices=("a", "c"), help="run one of the two validations")
    args = parser.parse_args()
    started = time.perf_counter()
    verdicts = {}
    if args.only in (None, "a"):
        verdicts["a"] = validate("a", MEASURABLE, args.output, args, with_mc=True)
    if args.only in (None, "c"):
        verdicts["c"] = validate("c", RARE, args.output, args, with_mc=False)
    print(f"\n{', '.join(f'({k}) ' + ('agree' if v else 'DISAGREE') for k, v in verdicts.items())}; "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
