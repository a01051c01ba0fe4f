"""pandas HDF5 files (``DataFrame.to_hdf``, as DeepLabCut writes them) read with h5py alone.

pandas reads these through PyTables, which unpickles attributes and object arrays: a crafted
file runs code on reading, and a check in front of it can always be outrun by a pickle it does
not understand. So nothing here ever unpickles. The two layouts pandas writes are read from
their plain datasets:

- ``fixed``: ``axis0`` (columns) and ``axis1`` (index) as arrays or level/code pairs, values in
  ``block<k>_values`` with their columns in ``block<k>_items``;
- ``table``: one compound dataset ``table`` (``index`` + ``values_block_<k>``); the column names
  live only in small attributes PyTables wrote as protocol-0 pickles of lists and tuples of
  strings. Those are *parsed* as data (:func:`plain_pickle_data`): any opcode beyond lists,
  tuples, dicts, strings and numbers is refused, so no callable is ever reached.
"""

from __future__ import annotations

import pickletools
from pathlib import Path

import numpy as np
import pandas as pd

from ethoprism.errors import EthoprismError

# pandas writes None names as this placeholder
_NONE_NAME = "N."


class NotPlainData(ValueError):
    """A pickle that holds more than lists, tuples, dicts, strings and numbers."""


def plain_pickle_data(blob: bytes):
    """The value of a pickle made only of containers, strings and numbers, found by walking its
    opcodes with :mod:`pickletools` (never :mod:`pickle`): globals, calls, object builds and
    extensions raise :class:`NotPlainData` before anything could run."""
    stack: list = []
    marks: list[int] = []
    memo: dict = {}

    def pop_mark() -> list:
        start = marks.pop()
        items = stack[start:]
        del stack[start:]
        return items

    try:
        for opcode, arg, _ in pickletools.genops(bytes(blob)):
            name = opcode.name
            if name in ("PROTO", "FRAME"):
                continue
            if name == "STOP":
                if len(stack) != 1 or marks:
                    raise NotPlainData("a pickle that does not end on one value")
                return stack[0]
            if name == "MARK":
                marks.append(len(stack))
            elif name in ("INT", "LONG", "BININT", "BININT1", "BININT2", "LONG1", "LONG4"):
                stack.append(arg)
            elif name in ("FLOAT", "BINFLOAT"):
                stack.append(float(arg))
            elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
                stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
            elif name in (
                "STRING",
                "BINSTRING",
                "SHORT_BINSTRING",
                "UNICODE",
                "BINUNICODE",
                "SHORT_BINUNICODE",
                "BINUNICODE8",
                "BINBYTES",
                "SHORT_BINBYTES",
                "BINBYTES8",
            ):
                stack.append(arg.decode("latin-1") if isinstance(arg, bytes) and "STRING" in name else arg)
            elif name == "EMPTY_LIST":
                stack.append([])
            elif name == "LIST":
                stack.append(pop_mark())
            elif name == "APPEND":
                value = stack.pop()
                _container(stack, list).append(value)
            elif name == "APPENDS":
                items = pop_mark()
                _container(stack, list).extend(items)
            elif name == "EMPTY_TUPLE":
                stack.append(())
            elif name == "TUPLE":
                stack.append(tuple(pop_mark()))
            elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
                size = int(name[-1])
                items = stack[-size:]
                del stack[-size:]
                stack.append(tuple(items))
            elif name == "EMPTY_DICT":
                stack.append({})
            elif name == "DICT":
                items = pop_mark()
                stack.append(dict(zip(items[::2], items[1::2])))
            elif name == "SETITEM":
                value, key = stack.pop(), stack.pop()
                _container(stack, dict)[_hashable(key)] = value
            elif name == "SETITEMS":
                items = pop_mark()
                target = _container(stack, dict)
                for key, value in zip(items[::2], items[1::2]):
                    target[_hashable(key)] = value
            elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = stack[-1]
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1]
            elif name in ("GET", "BINGET", "LONG_BINGET"):
                stack.append(memo[arg])
            elif name == "POP":
                stack.pop()
            elif name == "POP_MARK":
                pop_mark()
            else:
                raise NotPlainData(f"a pickle that would import or call Python code ({name})")
    except NotPlainData:
        raise
    except Exception as exc:  # truncated, unknown opcode, wrong stack shape: not data we know
        raise NotPlainData(f"not a plain pickle ({exc.__class__.__name__}: {exc})") from None
    raise NotPlainData("a pickle without its end")


def _container(stack: list, kind: type):
    if not stack or not isinstance(stack[-1], kind):
        raise NotPlainData(f"a pickle that adds to something other than a {kind.__name__}")
    return stack[-1]


def _hashable(key):
    if isinstance(key, (list, dict)):
        raise NotPlainData("a pickle with an unhashable dict key")
    return key


def read_pandas_hdf(path, key: str | None = None) -> pd.DataFrame:
    """The DataFrame under ``key`` (the file's only one when None) of a pandas HDF5 file, fixed
    or table layout, with numeric values and string or integer labels. Anything else (object
    columns, pickled values) is refused with :class:`EthoprismError`, never unpickled."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as handle:
            groups = [name for name, node in handle.items() if isinstance(node, h5py.Group)]
            if key is None:
                if len(groups) != 1:
                    raise ValueError(f"holds {len(groups)} tables ({', '.join(groups) or 'none'}), not one")
                key = groups[0]
            if key not in handle:
                raise ValueError(f"has no table '{key}'")
            group = handle[key]
            kind = _text(group.attrs.get("pandas_type", b""))
            if kind == "frame":
                return _read_fixed(group)
            if kind == "frame_table":
                return _read_table(group)
            raise ValueError(f"'{key}' is a pandas '{kind or 'unknown'}' object, not a DataFrame")
    except EthoprismError:
        raise
    except NotPlainData as exc:
        raise EthoprismError(f"refusing a file that would run code if pandas read it: {exc}", path) from None
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise EthoprismError(f"cannot read pandas HDF5 table: {exc}", path) from None


def _text(value) -> str:
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value[()])
    if isinstance(value, str):
        return value
    raise ValueError(f"expected a text attribute, found {type(value).__name__}")


def _pickled_attribute(node, name: str):
    value = node.attrs[name]
    if isinstance(value, str):  # a variable-length string attribute: its bytes are the pickle
        value = value.encode("utf-8", "surrogateescape")
    if not isinstance(value, (bytes, np.bytes_)):
        raise ValueError(f"attribute '{name}' is not a pickled list")
    try:
        return plain_pickle_data(bytes(value))
    except NotPlainData as exc:
        raise NotPlainData(f"attribute '{name}' of '{node.name}' is {exc}") from None


def _labels(dataset) -> np.ndarray:
    """An axis's values: numbers as they are, fixed-width strings decoded; anything pickled
    (pandas' object arrays) is refused."""
    kind = _text(dataset.attrs.get("kind", b""))
    if dataset.dtype.kind == "O" or dataset.attrs.get("PSEUDOATOM") is not None or kind == "object":
        raise NotPlainData(f"'{dataset.name}' holds pickled Python objects")
    values = dataset[()]
    if values.dtype.kind == "S":
        return np.array([v.decode("utf-8") for v in values], dtype=object)
    if values.dtype.kind in "iuf":
        return values
    raise ValueError(f"'{dataset.name}' holds {values.dtype} labels")


def _level_name(dataset) -> str | None:
    name = _text(dataset.attrs.get("name", _NONE_NAME.encode()))
    return None if name == _NONE_NAME else name


def _fixed_axis(group, prefix: str) -> pd.Index:
    variety = _text(group.attrs.get(f"{prefix}_variety", b"regular"))
    if variety == "regular":
        dataset = group[prefix]
        return pd.Index(_labels(dataset), name=_level_name(dataset))
    if variety != "multi":
        raise ValueError(f"axis '{prefix}' has an unknown layout '{variety}'")
    n_levels = int(group.attrs[f"{prefix}_nlevels"])
    levels = [group[f"{prefix}_level{k}"] for k in range(n_levels)]
    return pd.MultiIndex(
        levels=[_labels(level) for level in levels],
        codes=[group[f"{prefix}_label{k}"][()] for k in range(n_levels)],
        names=[_level_name(level) for level in levels],
    )


def _read_fixed(group) -> pd.DataFrame:
    if int(group.attrs.get("ndim", 2)) != 2:
        raise ValueError("not a two-dimensional table")
    columns, index = _fixed_axis(group, "axis0"), _fixed_axis(group, "axis1")
    frame = pd.DataFrame(index=index)
    for block in range(int(group.attrs["nblocks"])):
        values = group[f"block{block}_values"]
        if values.dtype.kind not in "iufb" or values.attrs.get("PSEUDOATOM") is not None:
            raise NotPlainData(f"'{values.name}' holds pickled Python objects")
        items = _fixed_axis(group, f"block{block}_items")
        block_frame = pd.DataFrame(values[()], index=index, columns=items)
        frame = pd.concat([frame, block_frame], axis=1) if len(frame.columns) else block_frame
    return frame.reindex(columns=columns)


def _read_table(group) -> pd.DataFrame:
    table = group["table"]
    index_name = "index"
    if table.dtype.names is None or index_name not in table.dtype.names:
        raise ValueError("a table layout without an index column")
    non_index_axes = _pickled_attribute(group, "non_index_axes")
    if not (isinstance(non_index_axes, list) and len(non_index_axes) == 1):
        raise ValueError("a table layout with an unexpected column description")
    info = _pickled_attribute(group, "info") if "info" in group.attrs else {}
    column_names = (info.get(1) or {}).get("names") if isinstance(info, dict) else None
    rows = table[()]
    blocks, names = [], []
    for field in table.dtype.names:
        if field == index_name:
            continue
        values = rows[field]
        if values.dtype.kind not in "iufb":
            raise ValueError(f"column block '{field}' holds {values.dtype} values, not numbers")
        blocks.append(values.reshape(len(rows), -1))
        names.extend(_pickled_attribute(table, f"{field}_kind"))
    order = list(non_index_axes[0][1])
    columns = _column_index(names, column_names)
    index_values = rows[index_name]
    if index_values.dtype.kind == "S":
        index_values = np.array([v.decode("utf-8") for v in index_values], dtype=object)
    frame = pd.DataFrame(
        np.concatenate(blocks, axis=1) if blocks else np.zeros((len(rows), 0)),
        index=pd.Index(index_values),
        columns=columns,
    )
    return frame.reindex(columns=_column_index(order, column_names))


def _column_index(names: list, level_names) -> pd.Index:
    if names and all(isinstance(n, tuple) for n in names):
        return pd.MultiIndex.from_tuples(names, names=level_names)
    if not all(isinstance(n, (str, int, float)) for n in names):
        raise ValueError("column names that are neither text nor numbers")
    return pd.Index(names, name=level_names[0] if level_names else None)
