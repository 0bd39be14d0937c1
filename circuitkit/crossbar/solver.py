"""The crossbar's resistive network solved vectorized: the same circuit as
`netlist.crossbar.CrossbarReadBench`, without ngspice.

Nodes: row node (i, j) where row i's input line passes cell (i, j), column node (i, j)
where column j's output line passes it. Row i is driven at its left end through one
word-line pitch from its input voltage; column j reaches its virtual ground (0 V) below
row 0 through one bit-line pitch. Kirchhoff's current law at every node:

    L x + D^T I_cell(D x) = b(V_in)

with L the wire conductance Laplacian (sources folded into b), D the map from node
voltages to cell voltages (row node minus column node) and I_cell(v) the card's current
equation (`ModelCard.current`, the .va's: series resistance, state-dependent shape, thermal
factor) at each cell's gap, the gap whose read conductance is the programmed one.
The output of column j is the current through its last pitch, g_bl x V(column node 0, j).

Solved by the chord method: A = L + D^T diag(s) D with s the cell's secant conductance at
the read voltage (I(v_read) / v_read, its programmed read conductance), factorised once
(SuperLU), then A x_(n+1) = b - D^T (I(D x_n) - s D x_n) for all input vectors at once
(one multi-right-hand-side solve per iteration). It converges at the rate of the cells'
departure from linearity (|1 - I'(v) / s| < 6 % for the fitted card up to 0.2 V): about
ten iterations to 1e-13 V.

`transfer_matrix()` is the network linearised at that secant: M with I_out = V_in @ M,
computed by one adjoint solve (A is symmetric). It is exact for cells read at v_read or
at 0 V up to the curvature between (bit-serial inputs, as `crossbar.layer` applies them);
`tests/test_crossbar.py` bounds the difference from the nonlinear solve.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from scipy.sparse.linalg import splu

from circuitkit import CircuitkitError
from circuitkit.device.model import ModelCard
from circuitkit.netlist.arrays import WireParasitics

MAX_ITERATIONS = 100
TOLERANCE_V = 1e-13


class CrossbarNetwork:
    """A rows x cols crossbar: conductances (S at `v_read`), the card's I-V, the wires
    (None: ideal wires, no IR drop)."""

    def __init__(self, conductance: np.ndarray, card: ModelCard, wires: WireParasitics | None,
                 v_read: float | None = None):
        g = np.asarray(conductance, dtype=float)
        if g.ndim != 2 or g.size == 0 or not np.all(np.isfinite(g)) or np.any(g <= 0):
            raise CircuitkitError(f"crossbar: conductance must be a rows x cols matrix of positive numbers, got "
                                  f"shape {g.shape}")
        self.rows, self.cols = g.shape
        self.card, self.wires = card, wires
        self.v_read = card.read_voltage if v_read is None else float(v_read)
        # each cell at the gap whose read conductance I(v_read) / v_read is its programmed one
        # (as `CrossbarReadBench` instantiates it), its I-V the card's equation at that gap
        self.gap = card.gap_for_resistance(1.0 / g, self.v_read)
        self.secant = g
        if wires is not None:
            self._build(wires)

    # ------------------------------------------------------------------ network
    def _build(self, wires: WireParasitics) -> None:
        R, C = self.rows, self.cols
        n = R * C
        if wires.r_wordline <= 0 or wires.r_bitline <= 0:
            raise CircuitkitError(f"crossbar solver: wire resistances must be > 0 (got {wires.r_wordline} / "
                                  f"{wires.r_bitline} ohm per pitch); pass wires=None for ideal wires")
        self.g_row, self.g_col = 1.0 / wires.r_wordline, 1.0 / wires.r_bitline
        row = np.arange(n).reshape(R, C)
        col = n + np.arange(n).reshape(R, C)
        i, j, v = [], [], []

        def couple(a: np.ndarray, b: np.ndarray, conductance: np.ndarray | float) -> None:
            conductance = np.broadcast_to(conductance, a.shape).ravel()
            a, b = a.ravel(), b.ravel()
            i.extend([a, b, a, b])
            j.extend([a, b, b, a])
            v.extend([conductance, conductance, -conductance, -conductance])

        couple(row[:, :-1], row[:, 1:], self.g_row)          # word-line segments
        couple(col[:-1, :], col[1:, :], self.g_col)          # bit-line segments
        couple(row, col, self.secant)                         # cells (linearised for A)
        diagonal = np.zeros(2 * n)
        diagonal[row[:, 0]] += self.g_row                     # driver pitch
        diagonal[col[0, :]] += self.g_col                     # sense pitch to the virtual ground
        i.append(np.arange(2 * n))
        j.append(np.arange(2 * n))
        v.append(diagonal)
        matrix = sparse.csc_matrix((np.concatenate(v), (np.concatenate(i), np.concatenate(j))), shape=(2 * n, 2 * n))
        self._lu = splu(matrix)
        self._row, self._col = row, col

    def _cell_voltage(self, x: np.ndarray) -> np.ndarray:
        n = self.rows * self.cols
        return (x[:n] - x[n:]).reshape(self.rows, self.cols, -1)

    def _inject(self, cell_current: np.ndarray) -> np.ndarray:
        """Node currents (leaving row nodes, entering column nodes) of per-cell currents."""
        flat = cell_current.reshape(self.rows * self.cols, -1)
        return np.concatenate([flat, -flat])

    # ------------------------------------------------------------------ solutions
    def currents(self, inputs: np.ndarray, *, return_iterations: bool = False):
        """Column output currents (vectors x cols, A) of input vectors (vectors x rows, V),
        the nonlinear network solved."""
        x_in = np.atleast_2d(np.asarray(inputs, dtype=float))
        if x_in.shape[1] != self.rows:
            raise CircuitkitError(f"crossbar: {x_in.shape[1]} inputs for {self.rows} rows")
        if self.wires is None:
            out = self.card.current(x_in[:, :, None], self.gap[None]).sum(axis=1)
            return (out, 0) if return_iterations else out
        B = x_in.shape[0]
        n = self.rows * self.cols
        source = np.zeros((2 * n, B))
        source[self._row[:, 0]] = self.g_row * x_in.T
        x = self._lu.solve(source)  # the linearised network: the first iterate
        for iteration in range(1, MAX_ITERATIONS + 1):
            v = self._cell_voltage(x)
            excess = self.card.current(v, self.gap[..., None]) - self.secant[..., None] * v
            updated = self._lu.solve(source - self._inject(excess))
            change = np.max(np.abs(updated - x))
            x = updated
            if change < TOLERANCE_V:
                break
        else:
            raise CircuitkitError(f"crossbar solver: no convergence in {MAX_ITERATIONS} chord iterations (last "
                                  f"change {change:.3g} V): inputs far beyond the read voltage make the cells too "
                                  "nonlinear for the secant")
        out = (self.g_col * x[self._col[0, :]]).T
        return (out, iteration) if return_iterations else out

    def transfer_matrix(self) -> np.ndarray:
        """M (rows x cols) with I_out = V_in @ M for the network linearised at each cell's
        secant conductance at the read voltage (IR drop included)."""
        if self.wires is None:
            return self.secant.copy()
        n = self.rows * self.cols
        unit = np.zeros((2 * n, self.cols))
        unit[self._col[0, :], np.arange(self.cols)] = 1.0
        adjoint = self._lu.solve(unit)  # A symmetric: rows of A^-1 at the outputs
        return self.g_row * self.g_col * adjoint[self._row[:, 0], :]
