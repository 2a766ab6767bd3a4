"""The Parquet store: samples in a Hive-partitioned Parquet dataset, the SQLite store's
counterpart for large imports (``netmeasure import --into DIR``).

A Parquet part is written column by column, far faster than the SQLite store inserts rows
(analysis/import_bench.py), and evaluate and report read the folder as they read a store.
The guarantees are the SQLite store's:

- one transaction per file: a file's new samples are written to a temporary file and renamed
  into place, atomically (``DIR/format=<format>/part-<hash>.parquet``), so a reader, or a
  crash of the process, sees all of a file or none of it;
- content-derived ids, and importing twice adds nothing: the ids already in the dataset are
  read once (16-byte keys, sorted), and only samples with new ids are written. Each part has
  its keys beside it (``.part-<hash>.keys``, sorted, written before the part is renamed into
  place), so opening a dataset reads 16 bytes per sample instead of parsing its ids; a part
  without them (written by an older version) has them computed from its ids;
- a bulk file imported before is found without recomputing it: its fingerprint (the file's
  bytes, the mapping, the command-line context, the netmeasure version) names the keys of
  every sample it gave (``.netmeasure-files/<fingerprint>.keys``); when all of them are in
  the dataset, nothing would be added, and nothing is computed. If any is missing (a part
  was deleted), the file is imported again in full;
- one importer at a time (an exclusive lock on ``DIR/.netmeasure-import.lock``).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from netmeasure.errors import StoreError, pip_install
from netmeasure.samples import ALL_COLUMNS, Sample

BATCH: Final = 100_000


def id_key(sample_id: str) -> bytes:
    """16 bytes per id: a UUID's own bytes, else the first 16 bytes of its SHA-256."""
    try:
        return uuid.UUID(sample_id).bytes if len(sample_id) == 36 else _hashed(sample_id)
    except ValueError:
        return _hashed(sample_id)


def _hashed(sample_id: str) -> bytes:
    return hashlib.sha256(sample_id.encode("utf-8", "surrogatepass")).digest()[:16]


class ParquetStore:
    """A sink for ``import_files``: ``add_all_or_nothing`` writes one part per file."""

    def __init__(self, path: str | Path) -> None:
        try:
            import numpy as np
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise StoreError(f"--into needs pyarrow: {pip_install('analysis')}") from exc
        self.np = np
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock = (self.path / ".netmeasure-import.lock").open("a")
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"{self.path}: another import is writing this dataset") from exc
        except OSError as exc:
            raise StoreError(f"{self.path}: cannot write the dataset: {exc.strerror}") from exc
        self.known = self._existing_keys()

    def __enter__(self) -> ParquetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._lock.close()

    def _existing_keys(self) -> Any:
        np = self.np
        keys = [np.array([], dtype="S16")]
        for part in sorted(self.path.rglob("*.parquet")):
            sidecar = read_keys(keys_path(part), np)
            if sidecar is None:
                try:
                    part_keys = np.unique(parquet_keys(part, np))
                except Exception as exc:
                    raise StoreError(f"{part}: not a readable part of the dataset: {exc}") from exc
                write_keys(keys_path(part), part_keys, len(part_keys))
                keys.append(part_keys)
            else:
                keys.append(sidecar[1])
        if len(keys) == 2:
            return keys[1]  # one part: its keys are sorted and unique already
        return np.unique(np.concatenate(keys))

    def already_imported(self, fingerprint: str) -> tuple[int, int] | None:
        """(0 added, samples seen) when the file with this fingerprint was imported before and
        every sample it gave is still in the dataset; None when it must be imported."""
        got = read_keys(self.path / FILES_FOLDER / f"{fingerprint}.keys", self.np)
        if got is None or not len(got[1]) or not len(self.known):
            return None
        seen, keys = got
        at = self.np.searchsorted(self.known, keys)
        at[at == len(self.known)] = 0
        if not bool((self.known[at] == keys).all()):
            return None  # a part was removed: import the file again in full
        return 0, seen

    def add_all_or_nothing(self, samples: Iterable[Sample]) -> tuple[int, int]:
        """Write the new samples of one file as one part; (rows added, rows seen)."""
        from netmeasure.export import arrow_schema

        schema = arrow_schema()
        return self.add_batches(_batch(chunk, schema) for chunk in _chunks(samples, BATCH))

    def add_batches(self, batches: Iterable[Any]) -> tuple[int, int]:
        """Write the new rows of one file's Arrow batches (the sample-record schema) as one
        part; (rows added, rows seen). If ``batches`` raises, nothing is written."""
        import pyarrow.parquet as pq

        from netmeasure.export import arrow_schema

        np = self.np
        schema = arrow_schema()
        seen = added = 0
        writer: Any = None
        tmp: Path | None = None
        digest = hashlib.sha256()
        new_keys: list[Any] = []
        try:
            for batch in batches:
                if not batch.num_rows:
                    continue
                seen += batch.num_rows
                keys = _keys(batch.column(0), np)
                # New: not in the dataset, and the first of its id within this file.
                _, first = np.unique(keys, return_index=True)
                fresh = np.zeros(len(keys), dtype=bool)
                fresh[first] = True
                if len(self.known):
                    at = np.searchsorted(self.known, keys)
                    at[at == len(self.known)] = 0
                    fresh &= self.known[at] != keys
                for earlier in new_keys:
                    fresh &= ~np.isin(keys, earlier)
                if not fresh.any():
                    continue
                new_keys.append(keys[fresh])
                rows = batch.filter(fresh)
                if writer is None:
                    fmt = str(rows.column(ALL_COLUMNS.index("tool"))[0]).removeprefix("import:")
                    folder = self.path / f"format={fmt}"
                    folder.mkdir(parents=True, exist_ok=True)
                    tmp = folder / f".part-{uuid.uuid4().hex}.parquet.tmp"
                    writer = pq.ParquetWriter(tmp, schema, compression="zstd")
                writer.write_batch(rows)
                digest.update(keys[fresh].tobytes())
                added += rows.num_rows
            if writer is not None and tmp is not None:
                writer.close()
                writer = None
                # No fsync, as the store's import mode (synchronous=NORMAL): a part is whole
                # or absent after a crash of the process; after a power cut, run the import
                # again (it adds only what is missing).
                final = tmp.parent / f"part-{digest.hexdigest()[:32]}.parquet"
                written = np.unique(np.concatenate(new_keys))
                write_keys(keys_path(final), written, len(written))
                os.replace(tmp, final)  # the commit: the whole file's samples appear at once
                self.known = np.union1d(self.known, written)
        except BaseException:
            if writer is not None:
                writer.close()
            if tmp is not None:
                tmp.unlink(missing_ok=True)
            raise
        return added, seen

    def part_path(self, fmt: str) -> Path:
        """A temporary file for a part being written (``*.parquet.tmp``: readers skip it)."""
        folder = self.path / f"format={fmt}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f".part-{uuid.uuid4().hex}.parquet.tmp"

    def add_parquet(self, tmp: Path, fingerprint: str | None = None) -> tuple[int, int]:
        """Commit a part written by the bulk path (``tmp``, from ``part_path``): renamed into
        place when every sample is new, rewritten with only the new ones otherwise, removed
        when none is; the file's keys are then recorded under ``fingerprint``. (rows added,
        rows seen)."""
        import pyarrow.parquet as pq

        np = self.np
        try:
            keys = bulk_keys(tmp, np)
            seen = len(keys)
            # In sorted order (the lookups in the dataset's sorted keys are then four times
            # faster). The common case first: every sample new, the part kept as written.
            ordered = np.sort(keys)
            doubled = bool((ordered[1:] == ordered[:-1]).any())
            present = False
            if len(self.known) and not doubled:
                at = np.searchsorted(self.known, ordered)
                at[at == len(self.known)] = 0
                present = bool((self.known[at] == ordered).any())
                del at
            if not doubled and not present:
                del keys
                final = tmp.parent / f"part-{hashlib.sha256(memoryview(ordered)).hexdigest()[:32]}"
                write_keys(keys_path(final.with_suffix(".parquet")), ordered, seen)
                os.replace(tmp, final.with_suffix(".parquet"))  # the commit
                self.known = _merge(self.known, ordered, np)
                self._remember(fingerprint, ordered, seen)
                return seen, seen
            # Else a sample is new when it is the first of its id in the file (a stable sort
            # keeps the file's order among equal ids) and not in the dataset.
            order = np.argsort(keys, kind="stable")
            ordered = keys[order]
            first = np.ones(seen, dtype=bool)
            first[1:] = ordered[1:] != ordered[:-1]
            new_sorted = first.copy()
            if len(self.known):
                at = np.searchsorted(self.known, ordered)
                at[at == len(self.known)] = 0
                new_sorted &= self.known[at] != ordered
                del at
            added = int(new_sorted.sum())
            file_keys = ordered[first]
            del first
            if added == 0:
                self._remember(fingerprint, file_keys, seen)
                return 0, seen
            fresh = np.empty(seen, dtype=bool)
            fresh[order] = new_sorted
            new = ordered[new_sorted]
            del order, ordered, new_sorted
            start = 0
            kept = tmp.with_name(tmp.name.replace(".part-", ".kept-"))
            pf = pq.ParquetFile(tmp)
            with pq.ParquetWriter(kept, pf.schema_arrow, compression="zstd") as writer:
                for batch in pf.iter_batches(batch_size=100_000):
                    mask = fresh[start : start + batch.num_rows]
                    start += batch.num_rows
                    if mask.any():
                        writer.write_batch(batch.filter(mask))
            os.replace(kept, tmp)
            final = (
                tmp.parent
                / f"part-{hashlib.sha256(keys[fresh].tobytes()).hexdigest()[:32]}.parquet"
            )
            write_keys(keys_path(final), new, len(new))
            os.replace(tmp, final)  # the commit
            self.known = _merge(self.known, new, np)
            self._remember(fingerprint, file_keys, seen)
            return added, seen
        finally:
            tmp.unlink(missing_ok=True)

    def _remember(self, fingerprint: str | None, keys: Any, seen: int) -> None:
        """Record the (sorted, unique) keys of every sample of the file just committed."""
        if fingerprint is not None and len(keys):
            folder = self.path / FILES_FOLDER
            folder.mkdir(exist_ok=True)
            write_keys(folder / f"{fingerprint}.keys", keys, seen)


#: Where the keys of each bulk-imported file are kept, by fingerprint (a hidden folder:
#: readers of ``**/*.parquet`` do not see it).
FILES_FOLDER: Final = ".netmeasure-files"
_KEYS_MAGIC: Final = b"NMKEYS01"


def keys_path(part: Path) -> Path:
    """The keys file of a part: hidden, beside it, not matched by ``*.parquet``."""
    return part.with_name(f".{part.stem}.keys")


def write_keys(path: Path, keys: Any, seen: int) -> None:
    """Sorted unique 16-byte keys, after a header (magic, samples seen); atomic."""
    tmp = path.with_name(f".{uuid.uuid4().hex}.keys.tmp")
    try:
        with tmp.open("wb") as fh:
            fh.write(_KEYS_MAGIC + seen.to_bytes(8, "little"))
            fh.write(memoryview(keys.astype("S16", copy=False)).cast("B"))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_keys(path: Path, np: Any) -> tuple[int, Any] | None:
    """(samples seen, sorted keys) of a keys file; None when absent or not one."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if len(data) < 16 or data[:8] != _KEYS_MAGIC or (len(data) - 16) % 16:
        return None
    return int.from_bytes(data[8:16], "little"), np.frombuffer(data, dtype="S16", offset=16)


def parquet_keys(part: Path, np: Any) -> Any:
    """The keys of a part's ids, in order (any ids: the general, slower way)."""
    import pyarrow.parquet as pq

    batches = pq.ParquetFile(part).iter_batches(columns=["sample_id"], batch_size=200_000)
    return np.concatenate([_keys(b.column(0), np) for b in batches] or [np.array([], "S16")])


def bulk_keys(part: Path, np: Any) -> Any:
    """The keys of a bulk part's ids, in order: they are all UUIDs (the bulk path makes them),
    so DuckDB turns them into their 16 bytes, five times faster than ``parquet_keys``."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET threads = 1").fetchall()
        con.execute("SET enable_progress_bar = false").fetchall()
        # id_key's bytes for a 36-character UUID; anything else is NULL: the general way
        table = con.sql(
            "SELECT CASE WHEN length(sample_id) = 36 THEN unhex(replace(sample_id, '-', ''))"
            " END AS k FROM read_parquet($part)",
            params={"part": str(part)},
        ).to_arrow_table()
    except duckdb.Error:
        return parquet_keys(part, np)
    finally:
        con.close()
    out = np.empty(table.num_rows, dtype="S16")
    at = 0
    for chunk in table.column(0).chunks:
        if str(chunk.type) != "binary" or chunk.null_count:
            return parquet_keys(part, np)
        n = len(chunk)
        if not n:
            continue
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)[
            chunk.offset : chunk.offset + n + 1
        ]
        if not (np.diff(offsets) == 16).all():
            return parquet_keys(part, np)
        data = np.frombuffer(chunk.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        out[at : at + n] = data.view("S16")
        at += n
    return out


def _merge(known: Any, new: Any, np: Any) -> Any:
    """The sorted union of two sorted arrays of distinct keys (none in both)."""
    if not len(known):
        return new
    merged = np.concatenate([known, new])
    merged.sort(kind="stable")  # two sorted runs: timsort merges them in linear time
    return merged


def _keys(ids: Any, np: Any) -> Any:
    """16-byte keys of an Arrow column of ids (vectorised when they are all UUID strings)."""
    import pyarrow.compute as pc

    if ids.null_count == 0 and pc.all(pc.match_substring_regex(ids, _UUID_RE)).as_py():
        hexed = pc.replace_substring(ids, "-", "")
        buf = np.frombuffer(hexed.buffers()[2], dtype=np.uint8)
        offsets = np.frombuffer(hexed.buffers()[1], dtype=np.int32)
        offsets = offsets[hexed.offset : hexed.offset + len(hexed) + 1]
        digits = buf[offsets[0] : offsets[-1]].reshape(len(hexed), 32)
        nibbles = _HEX[digits]
        return (nibbles[:, 0::2] * 16 + nibbles[:, 1::2]).astype(np.uint8).view("S16").ravel()
    return np.array([id_key(i) for i in ids.to_pylist()], dtype="S16")


_UUID_RE: Final = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _hex_table() -> Any:
    import numpy as np

    table = np.zeros(256, dtype=np.uint8)
    for i, c in enumerate(b"0123456789abcdef"):
        table[c] = i
    return table


class _LazyHex:
    table: Any = None

    def __getitem__(self, index: Any) -> Any:
        if self.table is None:
            self.table = _hex_table()
        return self.table[index]


_HEX: Final = _LazyHex()


def _chunks(samples: Iterable[Sample], size: int) -> Iterable[list[Sample]]:
    chunk: list[Sample] = []
    for s in samples:
        chunk.append(s)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _batch(rows: list[Sample], schema: Any) -> Any:
    import pyarrow as pa

    columns = list(zip(*(s.to_values() for s in rows), strict=True))
    return pa.RecordBatch.from_arrays(
        [pa.array(col, type=schema.field(i).type) for i, col in enumerate(columns)],
        schema=schema,
    )
