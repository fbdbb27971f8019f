"""Batch scoring on Ray: `graphc run MODEL --input NAME=DATA --output OUT --ray [--workers N]
[--batch-size B] [--ray-address ADDR]`.

A Ray Data pipeline: one item (first row, end row) per batch goes through `map_batches` over an
actor pool of N onnxruntime sessions, each created once; each actor reads its rows from DATA (a
memory-mapped .npy, a folder of .npy shards in name order, or Parquet: a file or a folder of
files, by row group). Execution preserves order and every batch carries its row indices (checked
on arrival), so the rows come back in input order. OUT is one .npz, or a folder with one folder of .npy shards
per output (OUT/<output>/part-00000.npy ..., itself a valid DATA folder).
"""

from __future__ import annotations

import glob
import os
import sys

import numpy as np

from graphc.errors import SpecError
from graphc.util.atomic import atomic_path
from graphc.runtime.session import make_session
from graphc.runtime.session import check_feeds
from graphc.errors import did_you_mean
from graphc.distributed import cluster

ROW = "__row__"


# -- inputs ---------------------------------------------------------------------------------
def npy_files(path: str) -> list[str]:
    """The .npy file, or a folder's .npy shards in name order."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.npy")))
        if not files:
            raise SpecError(f"--input: folder {path} has no .npy shards")
        return files
    return [path]


class NpyRows:
    """Rows [global ids] of one input: a .npy file or shards, memory-mapped (opened on each worker)."""

    def __init__(self, files: list[str]):
        self.files = files
        self._maps: list[np.ndarray] | None = None
        arrays = self._open()
        tails = {a.shape[1:] for a in arrays}
        if len(tails) > 1 or len({a.dtype for a in arrays}) > 1:
            raise SpecError(f"--input: the shards in {os.path.dirname(files[0])} differ in shape or dtype",
                            hint="every shard must hold rows of the same shape and dtype")
        self.offsets = np.cumsum([0] + [len(a) for a in arrays])
        self.rows = int(self.offsets[-1])
        self._maps = None  # reopened lazily where the rows are read

    def _open(self) -> list[np.ndarray]:
        maps = []
        for f in self.files:
            try:
                a = np.load(f, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as e:
                raise SpecError(f"--input: cannot read {f}: {str(e).splitlines()[0]}") from None
            if a.ndim == 0:
                raise SpecError(f"--input: {f} holds a scalar; scoring needs rows (axis 0)")
            maps.append(a)
        return maps

    def __getstate__(self):
        return {"files": self.files, "offsets": self.offsets, "rows": self.rows, "_maps": None}

    def take(self, ids: np.ndarray) -> np.ndarray:
        """The rows `ids` (a batch is a contiguous run of rows: one slice per shard it spans)."""
        if self._maps is None:
            self._maps = self._open()
        lo, hi = int(ids[0]), int(ids[-1]) + 1
        if hi - lo != len(ids):
            return np.stack([self._rows(int(i), int(i) + 1)[0] for i in ids])
        return self._rows(lo, hi)

    def _rows(self, lo: int, hi: int) -> np.ndarray:
        """Rows lo..hi-1 (open maps), one slice per shard they span."""
        parts = []
        for k, m in enumerate(self._maps):
            a, b = max(lo, int(self.offsets[k])), min(hi, int(self.offsets[k + 1]))
            if a < b:
                parts.append(np.asarray(m[a - self.offsets[k]:b - self.offsets[k]]))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class ParquetRows:
    """Rows [global ids] of one Parquet column (a file, or a folder's files in name order), read
    by row group on the worker; fixed-size lists become array rows."""

    def __init__(self, files: list[str], column: str):
        import pyarrow.parquet as pq

        self.files, self.column = files, column
        self.groups: list[tuple[int, int]] = []  # (file index, row group)
        sizes = []
        for k, f in enumerate(files):
            meta = pq.ParquetFile(f).metadata
            for g in range(meta.num_row_groups):
                self.groups.append((k, g))
                sizes.append(meta.row_group(g).num_rows)
        self.offsets = np.cumsum([0] + sizes)
        self.rows = int(self.offsets[-1])
        self._cache: tuple[int, np.ndarray] | None = None

    def __getstate__(self):
        return {**self.__dict__, "_cache": None}

    def _group(self, j: int) -> np.ndarray:
        if self._cache is None or self._cache[0] != j:
            import pyarrow.parquet as pq

            k, g = self.groups[j]
            col = pq.ParquetFile(self.files[k]).read_row_group(g, columns=[self.column]).column(0).combine_chunks()
            self._cache = (j, _to_numpy(col))
        return self._cache[1]

    def take(self, ids: np.ndarray) -> np.ndarray:
        lo, hi = int(ids[0]), int(ids[-1]) + 1
        parts = []
        for j in range(int(np.searchsorted(self.offsets, lo, "right")) - 1, len(self.groups)):
            a, b = max(lo, int(self.offsets[j])), min(hi, int(self.offsets[j + 1]))
            if a >= hi:
                break
            if a < b:
                parts.append(self._group(j)[a - self.offsets[j]:b - self.offsets[j]])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _to_numpy(col) -> np.ndarray:
    """A pyarrow column as a numpy array of rows (fixed-size lists, lists, tensors, scalars)."""
    import pyarrow as pa

    if isinstance(col.type, pa.FixedSizeListType):
        shape = [len(col)]
        while isinstance(col.type, pa.FixedSizeListType):
            shape.append(col.type.list_size)
            col = col.flatten()
        return col.to_numpy(zero_copy_only=False).reshape(shape)
    if hasattr(col, "to_numpy_ndarray"):  # fixed_shape_tensor extension arrays
        return col.to_numpy_ndarray()
    if isinstance(col.type, (pa.ListType, pa.LargeListType)):
        return np.asarray(col.to_pylist())
    return col.to_numpy(zero_copy_only=False)


def _parquet_files(path: str) -> list[str]:
    return sorted(glob.glob(os.path.join(path, "*.parquet"))) if os.path.isdir(path) else [path]


def _is_parquet(path: str) -> bool:
    if os.path.isdir(path):
        return bool(glob.glob(os.path.join(path, "*.parquet")))
    return path.endswith((".parquet", ".pq"))


def parse_inputs(pairs: list[str], names: list[str]) -> dict[str, NpyRows | ParquetRows]:
    """Each input's rows from --input NAME=DATA pairs."""
    sources: dict[str, NpyRows | ParquetRows] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep:
            raise SpecError(f"--input takes NAME=DATA with --ray (DATA: .npy, a folder of .npy, or Parquet), "
                            f"got '{pair}'")
        if name not in names:
            raise SpecError(f"--input {name}: the model has no input '{name}'", hint=did_you_mean(name, names)
                            or f"the model's inputs: {', '.join(names)}")
        if not os.path.exists(path):
            raise SpecError(f"--input {name}: no such file or folder: {path}")
        if _is_parquet(path):
            sources[name] = ParquetRows(_parquet_files(path), _parquet_column(path, name))
        else:
            sources[name] = NpyRows(npy_files(path))
    missing = [n for n in names if n not in sources]
    if missing:
        raise SpecError(f"missing input(s): {', '.join(missing)}", hint=f"give --input {missing[0]}=DATA")
    if len({r.rows for r in sources.values()}) > 1:
        raise SpecError("--ray: the inputs have different row counts: "
                        + ", ".join(f"{n} {r.rows}" for n, r in sources.items()))
    return sources


def _parquet_column(path: str, name: str) -> str:
    import pyarrow.parquet as pq

    first = _parquet_files(path)[0]
    try:
        columns = pq.read_schema(first).names
    except Exception as e:  # noqa: BLE001 - a damaged file is a user error
        raise SpecError(f"--input {name}: cannot read {path}: {str(e).splitlines()[0]}") from None
    if name in columns:
        return name
    if len(columns) == 1:
        return columns[0]
    raise SpecError(f"--input {name}: {path} has no column '{name}'", hint=f"its columns: {', '.join(columns)}")


# -- the actor ------------------------------------------------------------------------------
class Scorer:
    """One onnxruntime session per Ray actor, created once; scores one batch (rows lo..hi)."""

    def __init__(self, model: bytes, sources: dict):
        self.session = make_session(model, "cpu", quiet=True, threads=1)
        self.inputs = {i.name: i for i in self.session.get_inputs()}
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.sources = sources

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids = np.arange(int(batch["lo"][0]), int(batch["hi"][-1]), dtype=np.int64)
        feeds = {name: self._rows(name, rows.take(ids)) for name, rows in self.sources.items()}
        out = dict(zip(self.outputs, self.session.run(self.outputs, check_feeds(self.session, feeds))))
        out[ROW] = ids
        return out

    def _rows(self, name: str, values: np.ndarray) -> np.ndarray:
        """Rows reshaped to the input's fixed trailing dims (flat Parquet lists, for example)."""
        tail = self.inputs[name].shape[1:]
        if all(isinstance(d, int) for d in tail) and values.shape[1:] != tuple(tail) and \
                values[:1].size == int(np.prod(tail)):
            values = values.reshape((len(values), *tail))
        return values


# -- scoring --------------------------------------------------------------------------------
def model_bytes(path: str) -> bytes:
    if not os.path.exists(path):
        raise SpecError(f"no such file: {path}")
    with open(path, "rb") as f:
        return f.read()


def _check_batch_axis(session) -> None:
    for i in session.get_inputs():
        if not i.shape or isinstance(i.shape[0], int):
            raise SpecError(f"--ray: input {i.name} has shape {i.shape}; batch scoring needs a symbolic batch "
                            "axis (for example N) first", hint="write the input's first dim as N in the spec")


def dataset(rows: int, batch_size: int):
    """The Ray Dataset to score: one item (first row, end row) per batch, in memory, so no read
    task competes with the actors for CPUs; the workers read their rows themselves (memory-mapped
    .npy, Parquet row groups)."""
    import ray.data

    return ray.data.from_items([{"lo": lo, "hi": min(lo + batch_size, rows)} for lo in range(0, rows, batch_size)])


def score_rows(model: bytes, pairs: list[str], out: str, workers: int | None, batch_size: int) -> int:
    """Score every row of the inputs (NAME=DATA pairs) on the connected Ray and write `out`;
    returns the row count."""
    import ray.data


    try:
        local = make_session(model, "cpu", quiet=True)
    except SpecError:
        raise
    except Exception as e:  # noqa: BLE001 - onnxruntime's own load errors are user errors here
        raise SpecError(f"cannot load the model: {str(e).splitlines()[0]}") from None
    _check_batch_axis(local)
    names = [i.name for i in local.get_inputs()]
    outputs = [o.name for o in local.get_outputs()]
    sources = parse_inputs(pairs, names)
    rows = next(iter(sources.values())).rows
    workers = cluster.check_workers(workers, "--ray")
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    scored = dataset(rows, batch_size).map_batches(Scorer, batch_size=1, batch_format="numpy", num_cpus=1,
                            compute=ray.data.ActorPoolStrategy(size=workers),  # concurrency=N, in Ray >= 2.51
                            fn_constructor_kwargs={"model": model, "sources": sources})
    writer = NpzWriter(out, outputs) if out.endswith(".npz") else ShardWriter(out, outputs)
    try:
        with cluster.quiet_logs():
            _collect(scored, writer, rows)
    except Exception as e:
        from ray.exceptions import RayError

        if isinstance(e, SpecError) or not isinstance(e, RayError):
            raise
        raise SpecError(f"--ray: scoring failed on a Ray worker: {cluster._cause(e)}",
                        hint="every worker needs graphc, onnxruntime and numpy installed (docs/scale.md)") from None
    writer.close()
    return rows


def _collect(scored, writer, rows: int) -> None:
    """Stream the scored batches into `writer` in row order, with a rows and rows/s progress bar."""
    from tqdm import tqdm

    expected = 0
    with tqdm(total=rows, unit="rows", unit_scale=True, file=sys.stderr, mininterval=0.5, desc="scoring") as bar:
        for batch in scored.iter_batches(batch_size=None, batch_format="numpy"):
            ids = batch.pop(ROW)
            n = len(ids)
            if not np.array_equal(ids, np.arange(expected, expected + n)):
                raise SpecError(f"internal: scored rows arrived out of order (row {ids[0]}, expected {expected})")
            expected += n
            writer.add(batch)
            bar.update(n)


class NpzWriter:
    """All outputs into one .npz (atomically, at the end)."""

    def __init__(self, path: str, outputs: list[str]):
        self.path, self.parts = path, {o: [] for o in outputs}

    def add(self, batch: dict[str, np.ndarray]) -> None:
        for name, value in batch.items():
            self.parts[name].append(value)

    def close(self) -> None:
        arrays = {n: np.concatenate(p) for n, p in self.parts.items() if p}
        with atomic_path(self.path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)


class ShardWriter:
    """OUT/<output>/part-00000.npy ... as the batches arrive (old parts are removed first)."""

    def __init__(self, path: str, outputs: list[str]):
        self.dirs = {o: os.path.join(path, o.replace("/", "_")) for o in outputs}
        for d in self.dirs.values():
            os.makedirs(d, exist_ok=True)
            for old in glob.glob(os.path.join(d, "part-*.npy")):
                os.remove(old)
        self.k = 0

    def add(self, batch: dict[str, np.ndarray]) -> None:
        for name, value in batch.items():
            with atomic_path(os.path.join(self.dirs[name], f"part-{self.k:05d}.npy"), suffix=".npy") as tmp:
                np.save(tmp, value)
        self.k += 1

    def close(self) -> None:
        pass
