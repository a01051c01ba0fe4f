"""pandas HDF5 read with h5py alone: the layouts DeepLabCut writes, and files crafted to run code."""

import pickle
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest

from ethoprism.errors import EthoprismError
from ethoprism.io.deeplabcut import read_deeplabcut
from ethoprism.io.pandas_hdf import NotPlainData, plain_pickle_data, read_pandas_hdf


def _pose_table(individuals=("m1", "m2"), index=None):
    levels = [["DLC_resnet50"], list(individuals), ["snout", "tail"], ["x", "y", "likelihood"]]
    columns = pd.MultiIndex.from_product(levels, names=["scorer", "individuals", "bodyparts", "coords"])
    values = np.arange(2 * len(columns), dtype=float).reshape(2, -1)
    values[1, 3] = np.nan
    return pd.DataFrame(values, columns=columns, index=index)


def _write(table, path, fmt):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.to_hdf(path, key="df_with_missing", mode="w", format=fmt)


@pytest.mark.parametrize("fmt", ["fixed", "table"])
def test_both_layouts_read_as_pandas_reads_them(tmp_path, fmt):
    path = tmp_path / f"videoDLC_{fmt}.h5"
    table = _pose_table()
    _write(table, path, fmt)
    pd.testing.assert_frame_equal(read_pandas_hdf(path), pd.read_hdf(path), check_column_type=False)
    pd.testing.assert_frame_equal(read_pandas_hdf(path), table, check_column_type=False)


def test_labelled_data_with_an_image_path_index(tmp_path):
    index = pd.MultiIndex.from_tuples(
        [("labeled-data", "m4s1", "img0012.png"), ("labeled-data", "m4s1", "img0340.png")]
    )
    path = tmp_path / "CollectedData_Pranav.h5"
    _write(_pose_table(("single",), index), path, "fixed")
    got = read_pandas_hdf(path)
    assert list(got.index) == list(index)
    pd.testing.assert_frame_equal(got, pd.read_hdf(path), check_column_type=False)


def test_plain_pickle_data_reads_containers_and_refuses_code():
    value = [(1, ["a", "b"]), {"names": ["scorer", None]}, 2.5, True]
    for protocol in range(0, 6):
        assert plain_pickle_data(pickle.dumps(value, protocol=protocol)) == value
    with pytest.raises(NotPlainData, match="import or call"):
        plain_pickle_data(pickle.dumps(pd.Timestamp, protocol=0))
    with pytest.raises(NotPlainData):
        plain_pickle_data(b"(lp0\n\xff.")  # an opcode pickletools does not know
    with pytest.raises(NotPlainData):
        plain_pickle_data(b"(lp0\n")  # cut short


class _Trap:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _trap_pickle(marker) -> bytes:
    """A protocol-0 pickle whose loading touches ``marker``, then meets an opcode that
    :mod:`pickletools` does not know (the call has run by then: checks that parse first fail)."""
    blob = pickle.dumps(_Trap(marker), protocol=0)
    assert blob.endswith(b".")
    return blob[:-1] + b"\xff."


@pytest.mark.parametrize("as_string", [False, True], ids=["bytes-attribute", "vlen-string-attribute"])
def test_crafted_attributes_never_run(tmp_path, as_string):
    marker = tmp_path / "code_ran"
    path = tmp_path / "videoDLC_resnet50.h5"
    _write(_pose_table(), path, "table")
    with h5py.File(path, "r+") as handle:
        node = handle["df_with_missing"]
        if as_string:  # h5py hands back str, PyTables bytes, which it unpickles
            blob = pickle.dumps(_Trap(marker), protocol=0)
            node.attrs.create("non_index_axes", blob, dtype=h5py.string_dtype("ascii"))
        else:
            node.attrs["non_index_axes"] = np.bytes_(_trap_pickle(marker))
    with pytest.raises(EthoprismError, match="would run code.*non_index_axes.*import or call") as info:
        read_deeplabcut(path)
    assert str(path) in str(info.value)
    assert not marker.exists()
    # the file is a real attack: PyTables' reader would have run it (in this test's process only)
    try:
        pd.read_hdf(path)
    except Exception:  # after the call, the read may fail or not: the code has run either way
        pass
    assert marker.exists()


def test_object_arrays_are_refused(tmp_path):
    path = tmp_path / "videoDLC_resnet50.h5"
    _write(_pose_table().set_axis(pd.Index(["a", 3], dtype=object)), path, "fixed")
    with pytest.raises(EthoprismError, match="would run code.*pickled Python objects"):
        read_deeplabcut(path)


@pytest.mark.parametrize(
    "content", [b"", b"not hdf5 at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 40], ids=["empty", "text", "cut"]
)
def test_unreadable_files_are_one_error(tmp_path, content):
    path = tmp_path / "videoDLC_resnet50.h5"
    path.write_bytes(content)
    with pytest.raises(EthoprismError, match="cannot read DeepLabCut pose file") as info:
        read_deeplabcut(path)
    assert str(path) in str(info.value)


def test_a_file_without_a_table_is_one_error(tmp_path):
    path = tmp_path / "videoDLC_resnet50.h5"
    with h5py.File(path, "w") as handle:
        handle["x"] = np.zeros(3)
    with pytest.raises(EthoprismError, match="holds 0 tables"):
        read_deeplabcut(path)
