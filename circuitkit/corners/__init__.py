"""Corners stage: PVT Monte Carlo campaigns of a read circuit into bit-error tables.

`campaign.py` plans, seeds, runs (any executor), checkpoints and counts; `reads.py` is the
2T2R + PCSA read simulator a caller hands it (`batch.py` is their contract); `rare.py`
the rare-event (`offset`) estimate; `spread.py` the device spread the cells are drawn
from; `cli.py` is `circuitkit ber`. The stage writes tables and JSON; it draws nothing.
"""
