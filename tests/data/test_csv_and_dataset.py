"""Loading, validating and preparing MNIST-style CSVs: layouts, containers, every bad input."""

from __future__ import annotations

import gzip
import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mnist_cnn.config import Config
from mnist_cnn.data import csv_format, dataset
from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.io import files
from mnist_cnn.io.errors import CSVFormatError

KAGGLE_HEADER = "label," + ",".join(f"{r}x{c}" for r in range(1, 29) for c in range(1, 29))
RECOGNIZER_HEADER = "label," + ",".join(f"pixel{i}" for i in range(784))
PIXEL_HEADER = ",".join(f"pixel{i}" for i in range(784))


def make_rows(n: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 784), dtype=np.int64), rng.integers(0, 10, n)


def csv_text(pixels, labels=None, header: str | None = KAGGLE_HEADER, newline: str = "\n") -> str:
    lines = [] if header is None else [header]
    for i, row in enumerate(pixels):
        cells = ([str(labels[i])] if labels is not None else []) + [str(v) for v in row]
        lines.append(",".join(cells))
    return newline.join(lines) + newline


def write(tmp_path: Path, text: str | bytes, name: str = "digits.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


@pytest.fixture(params=["c", "numpy"])
def parser(request, monkeypatch):
    """Run a test against the C accelerator and the NumPy fallback alike."""
    if request.param == "c":
        if csv_format._fastcsv is None:
            pytest.skip("C accelerator not built")
    else:
        monkeypatch.setattr(csv_format, "_fastcsv", None)
    return request.param


# -- layouts and containers ------------------------------------------------------------------------


@pytest.mark.parametrize("header", [KAGGLE_HEADER, RECOGNIZER_HEADER, None])
def test_labelled_layouts_read_exactly(tmp_path, parser, header):
    pixels, labels = make_rows()
    images, got = load_csv(write(tmp_path, csv_text(pixels, labels, header)))
    assert images.dtype == np.uint8 and images.shape == (5, 28, 28)
    np.testing.assert_array_equal(images.reshape(5, -1), pixels)
    np.testing.assert_array_equal(got, labels)


@pytest.mark.parametrize("header", [PIXEL_HEADER, None])
def test_unlabelled_layouts_give_no_labels(tmp_path, parser, header):
    pixels, _ = make_rows()
    images, labels = load_csv(write(tmp_path, csv_text(pixels, None, header)))
    assert labels is None
    np.testing.assert_array_equal(images.reshape(5, -1), pixels)


def test_gzip_zip_crlf_and_bom_read_the_same(tmp_path, parser):
    pixels, labels = make_rows()
    text = csv_text(pixels, labels)
    gz = write(tmp_path, gzip.compress(text.encode()), "d.csv.gz")
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as archive:
        archive.writestr("mnist_train.csv", text)
        archive.writestr("__MACOSX/._mnist_train.csv", b"\x00\x05")
    crlf = write(tmp_path, "\ufeff" + csv_text(pixels, labels, newline="\r\n"), "crlf.csv")
    for path in (gz, tmp_path / "d.zip", crlf):
        images, got = load_csv(path)
        np.testing.assert_array_equal(images.reshape(5, -1), pixels)
        np.testing.assert_array_equal(got, labels)


def test_no_final_newline_and_trailing_blank_lines_are_fine(tmp_path, parser):
    pixels, labels = make_rows(3)
    text = csv_text(pixels, labels)
    for variant in (text.rstrip("\n"), text + "\n\n"):
        images, _ = load_csv(write(tmp_path, variant))
        assert images.shape == (3, 28, 28)


def test_leading_zeros_are_accepted_by_the_careful_parser(tmp_path, parser):
    pixels, labels = make_rows(2)
    text = csv_text(pixels, labels).replace("\n" + str(labels[1]) + ",", f"\n00{labels[1]},", 1)
    _, got = load_csv(write(tmp_path, text))
    np.testing.assert_array_equal(got, labels)


# -- bad input: one exception naming file, line, column and reason ----------------------------------


def bad_cell(tmp_path: Path, line: int, column: int, value: str) -> Path:
    """A valid 4-row labelled CSV with one cell replaced (line 1 is the header)."""
    pixels, labels = make_rows(4)
    rows = csv_text(pixels, labels).splitlines()
    cells = rows[line - 1].split(",")
    cells[column - 1] = value
    rows[line - 1] = ",".join(cells)
    return write(tmp_path, "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        (3, 1, "10", "label 10 is outside 0-9"),
        (2, 1, "-1", "label -1 is outside 0-9"),
        (4, 300, "256", "pixel value 256 in column '11x19' is outside 0-255"),
        (5, 785, "99999", "pixel value 99999 in column '28x28' is outside 0-255"),
        (2, 2, "65541", "pixel value 65541 in column '1x1' is outside 0-255"),
        (3, 7, "-3", "pixel value -3 in column '1x6' is outside 0-255"),
        (3, 8, "", "empty cell in column '1x7'"),
        (4, 9, "abc", "non-numeric cell 'abc' in column '1x8'"),
        (2, 10, "12.5", "non-integer value '12.5' in column '1x9'"),
        (2, 11, "1e3", "non-integer value '1e3' in column '1x10'"),
        (5, 1, "seven", "non-numeric cell 'seven' in column 'label'"),
    ],
)
def test_bad_cells_name_file_line_column_and_reason(tmp_path, parser, line, column, value, reason):
    path = bad_cell(tmp_path, line, column, value)
    with pytest.raises(CSVFormatError) as caught:
        load_csv(path)
    err = caught.value
    assert (err.line, err.column, err.reason) == (line, column, reason)
    assert str(err) == f"{path}: line {line}, column {column}: {reason}"


def test_first_bad_line_in_file_order_is_reported(tmp_path, parser):
    pixels, labels = make_rows(6)
    rows = csv_text(pixels, labels).splitlines()
    rows[3] = rows[3] + ",5"  # line 4: too many fields
    rows[5] = rows[5].replace(",", ",x", 1)  # line 6: non-numeric
    with pytest.raises(CSVFormatError) as caught:
        load_csv(write(tmp_path, "\n".join(rows)))
    assert caught.value.line == 4


@pytest.mark.parametrize(
    ("edit", "line", "reason"),
    [
        (
            lambda rows: rows.__setitem__(2, rows[2].rsplit(",", 1)[0]),
            3,
            "too few fields: 784, expected 785",
        ),
        (lambda rows: rows.__setitem__(3, rows[3] + ",7"), 4, "too many fields: 786, expected 785"),
        (lambda rows: rows.__setitem__(2, ""), 3, "empty line; expected 785 fields"),
    ],
)
def test_wrong_field_counts(tmp_path, parser, edit, line, reason):
    pixels, labels = make_rows(4)
    rows = csv_text(pixels, labels).splitlines()
    edit(rows)
    with pytest.raises(CSVFormatError) as caught:
        load_csv(write(tmp_path, "\n".join(rows) + "\n"))
    assert (caught.value.line, caught.value.reason) == (line, reason)


def test_shifted_field_counts_that_balance_out_are_caught(tmp_path, parser):
    # one row a field short and the next a field long: the totals match, the rows do not
    pixels, labels = make_rows(4)
    rows = csv_text(pixels, labels).splitlines()
    moved = rows[2].rsplit(",", 1)
    rows[2] = moved[0]
    rows[3] = rows[3] + "," + moved[1]
    with pytest.raises(CSVFormatError) as caught:
        load_csv(write(tmp_path, "\n".join(rows) + "\n"))
    assert caught.value.line == 3 and "too few fields" in caught.value.reason


@pytest.mark.parametrize(
    ("content", "line", "reason_part"),
    [
        (b"", None, "file is empty"),
        (b"\n \n", None, "file is empty"),
        ((KAGGLE_HEADER + "\n").encode(), 2, "has a header but no data rows"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), None, "is a PNG image, not a text CSV"),
        (b"\xff\xd8\xff\xe0" + bytes(100), None, "is a JPEG image, not a text CSV"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", None, "is an HTML/XML page"),
        (bytes(range(256)) * 4, None, "is binary data, not a text CSV"),
        (b"label,a,b\n1,2,3\n", 1, "header has 3 columns; expected 785"),
        (b"1,2,3\n4,5,6\n", 1, "has 3 fields; expected 785"),
        (b"\x1f\x8b\x08\x00garbage", None, "is not a valid gzip file"),
    ],
)
def test_files_that_are_not_mnist_csvs(tmp_path, parser, content, line, reason_part):
    path = write(tmp_path, content)
    with pytest.raises(CSVFormatError) as caught:
        load_csv(path)
    assert reason_part in caught.value.reason
    assert caught.value.line == line
    assert str(caught.value).startswith(str(path))


def test_zip_with_two_csvs_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "two.zip", "w") as archive:
        archive.writestr("a.csv", "1")
        archive.writestr("b.csv", "2")
    with pytest.raises(CSVFormatError, match=r"exactly one CSV file; this one holds a\.csv, b\.csv"):
        load_csv(tmp_path / "two.zip")


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(CSVFormatError, match="file not found"):
        load_csv(tmp_path / "nope.csv")
    with pytest.raises(CSVFormatError, match="is a directory"):
        load_csv(tmp_path)


# -- checksums ----------------------------------------------------------------------------------


def test_listed_checksum_mismatch_is_reported_never_used(tmp_path):
    pixels, labels = make_rows()
    path = write(tmp_path, csv_text(pixels, labels))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    (tmp_path / "SHA256SUMS").write_text(f"{digest}  {path.name}\n")
    load_csv(path)  # matches: fine
    path.write_bytes(path.read_bytes().replace(b"\n1", b"\n2", 1) + b"")
    with pytest.raises(CSVFormatError, match="checksum mismatch"):
        load_csv(path)


def test_embedded_data_matches_its_checksums():
    data_dir = Path(__file__).resolve().parents[2] / "data"
    listed = files.read_checksums(data_dir / "SHA256SUMS")
    assert set(listed) == {"mnist_train.csv.gz", "mnist_test.csv.gz"}
    for name, digest in listed.items():
        assert files.file_sha256(data_dir / name) == digest


# -- preprocessing -------------------------------------------------------------------------------


def test_model_input_and_one_hot():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    x = dataset.to_model_input(images)
    assert x.dtype == np.float32 and x.shape == (1, 2, 2, 1)
    np.testing.assert_allclose(x[0, :, :, 0], [[0.0, 1.0], [0.2, 0.4]])
    np.testing.assert_array_equal(dataset.one_hot(np.array([2, 0]), 3), [[0, 0, 1], [1, 0, 0]])


def test_split_is_stratified_seeded_and_disjoint():
    labels = np.repeat(np.arange(10), 100)
    images = np.arange(1000, dtype=np.int64)
    a = dataset.stratified_split(images, labels, val_size=200, seed=7)
    b = dataset.stratified_split(images, labels, val_size=200, seed=7)
    c = dataset.stratified_split(images, labels, val_size=200, seed=8)
    train_x, _train_y, val_x, val_y = a
    assert len(train_x) == 800 and len(val_x) == 200
    assert np.bincount(val_y).tolist() == [20] * 10
    assert not set(train_x) & set(val_x)
    np.testing.assert_array_equal(a[2], b[2])
    assert not np.array_equal(a[2], c[2])


def test_load_dataset_default_split_and_limits(tmp_path):
    pixels, labels = make_rows(200)
    labels = np.arange(200) % 10
    write(tmp_path, csv_text(pixels, labels), "train.csv")
    write(tmp_path, csv_text(pixels[:30], None, PIXEL_HEADER), "test.csv")
    config = Config.from_profile(
        "smoke",
        data_dir=tmp_path,
        train_csv="train.csv",
        test_csv="test.csv",
        train_limit=100,
        val_size=50,
        test_limit=20,
    )
    ds = dataset.load_dataset(config)
    assert ds.summary() == {"train": 100, "validation": 50, "test": 20}
    assert ds.test_y is None
    assert np.bincount(ds.val_y).tolist() == [5] * 10


def test_labels_beyond_the_class_names_are_refused(tmp_path):
    pixels, _ = make_rows(20)
    write(tmp_path, csv_text(pixels, np.arange(20) % 10), "train.csv")
    write(tmp_path, csv_text(pixels, np.arange(20) % 10), "test.csv")
    config = Config.from_profile(
        "smoke",
        data_dir=tmp_path,
        train_csv="train.csv",
        test_csv="test.csv",
        class_names=("a", "b", "c"),
        val_size=5,
    )
    with pytest.raises(CSVFormatError, match="has no class name"):
        dataset.load_dataset(config)


def test_full_embedded_training_set_default_split():
    config = Config.from_profile("full")
    config.data_dir = Path(__file__).resolve().parents[2] / "data"
    ds = dataset.load_dataset(config)
    assert ds.summary() == {"train": 54000, "validation": 6000, "test": 10000}
    assert ds.train_y[:0].dtype.kind == "i"
    assert np.bincount(ds.test_y).sum() == 10000


def test_atomic_write_replaces_whole_and_keeps_ordinary_permissions(tmp_path):
    target = tmp_path / "out.txt"
    files.atomic_write(target, lambda h: h.write("first"), mode="w")
    mask = os.umask(0o022)
    os.umask(mask)
    assert target.read_text() == "first" and target.stat().st_mode & 0o777 == 0o666 & ~mask
    target.chmod(0o640)

    def crash_half_way(handle):
        handle.write("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        files.atomic_write(target, crash_half_way, mode="w")
    assert target.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["out.txt"]
    files.atomic_write(target, lambda h: h.write("second"), mode="w")
    assert target.read_text() == "second" and target.stat().st_mode & 0o777 == 0o640  # mode kept


def _kaggle_rows(scale: float = 1.0) -> list[str]:
    rng = np.random.default_rng(0)
    pixels, labels = rng.integers(0, 256, (3, 784)), rng.integers(0, 10, 3)
    return [f"{y}," + ",".join(f"{v * scale:.4f}" if scale != 1.0 else str(v) for v in x)
            for x, y in zip(pixels, labels, strict=True)]


@pytest.mark.parametrize(
    ("make", "line", "hint"),
    [
        (lambda: (KAGGLE_HEADER + "\n" + "\n".join(_kaggle_rows()) + "\n").encode("utf-16"), None,
         "is UTF-16 text, not UTF-8: save it as UTF-8"),
        (lambda: (KAGGLE_HEADER + "\n" + "\n".join(_kaggle_rows()) + "\n").encode("utf-16-le"), None,
         "is UTF-16 text"),
        (lambda: ("\n".join([KAGGLE_HEADER, *_kaggle_rows()]) + "\n").replace(",", ";").encode(), 1,
         "separated by semicolons, not commas: convert it with pd.read_csv(path, sep=';')"),
        (lambda: ("\n".join([KAGGLE_HEADER, *_kaggle_rows()]) + "\n").replace(",", "\t").encode(), 1,
         "separated by tabs"),
        (lambda: ("\n".join([f",{KAGGLE_HEADER}", *(f"{i},{r}" for i, r in enumerate(_kaggle_rows()))])
                  + "\n").encode(), 1, "the first column is a pandas index (saved without index=False)"),
        (lambda: ("\n".join([KAGGLE_HEADER, *_kaggle_rows(1 / 255)]) + "\n").encode(), 2,
         "the pixels look scaled to 0-1, and this format holds whole numbers 0-255"),
    ],
)
def test_common_near_misses_say_what_the_file_probably_is_and_how_to_convert_it(
        tmp_path, parser, make, line, hint):
    path = write(tmp_path, make())
    with pytest.raises(CSVFormatError) as caught:
        load_csv(path)
    assert hint in caught.value.reason and caught.value.line == line
    assert str(caught.value).startswith(str(path)) and "\n" not in str(caught.value)
