"""The one seeding scheme of circuitkit: random streams named by values, never by positions.

Every random number a stage draws comes from a `numpy.random.SeedSequence` derived from
the user's seed and a *name*: the values that say what the stream is for (a campaign
job's scheme, stored weight and batch; a table condition's corner, supply, temperature
and scheme; a BER of a tolerance curve), or a fixed index of a purpose (an SNN's
devices, input spikes, ties) and of a trial or chip. So a result never depends on where
its condition sits in a table, on which other conditions run, on chunk sizes or on the
worker that computes it, and the first T trials of a long run are those of a short one.

- `child_seed(seed, i)`: child i of the seed, the one `SeedSequence.spawn` would give,
  built directly (it does not depend on how many children were spawned before).
- `trial_generator(seed, t)`: the generator of trial (chip, copy) t: child t.
- `keyed_seed(seed, text)` / `value_seed(seed, *values)`: a child named by a text or by
  values (JSON), through the first 128 bits of their SHA-256.

Neutral ground: every stage may import it; it imports no stage.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

Seed = int | np.random.SeedSequence


def _root(seed: Seed) -> np.random.SeedSequence:
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


def _child(seed: Seed, key: tuple[int, ...]) -> np.random.SeedSequence:
    root = _root(seed)
    return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, *key), pool_size=root.pool_size)


def child_seed(seed: Seed, index: int) -> np.random.SeedSequence:
    """Child `index` of the seed's SeedSequence (the one `spawn` would give it)."""
    return _child(seed, (index,))


def keyed_seed(seed: Seed, text: str) -> np.random.SeedSequence:
    """A child of the seed named by `text`: its spawn key is the first 16 bytes of the
    text's SHA-256 as four little-endian 32-bit words."""
    digest = hashlib.sha256(text.encode()).digest()
    return _child(seed, tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)))


def value_seed(seed: Seed, *key: object) -> np.random.SeedSequence:
    """A child of the seed named by values (the JSON of `key`, e.g. a condition's corner,
    supply, temperature and scheme): the same values give the same draws wherever they
    sit in a table."""
    return keyed_seed(seed, json.dumps(key, sort_keys=True, default=repr))


def trial_generator(seed: Seed, trial: int) -> np.random.Generator:
    """The generator of one trial: child `trial` of the seed's SeedSequence."""
    return np.random.Generator(np.random.PCG64(child_seed(seed, trial)))
