"""Compatibility: the names `mnist_cnn.data` used to define, now in their own modules.

- `mnist_cnn.constants`: IMAGE_SIDE, NUM_PIXELS, NUM_CLASSES;
- `mnist_cnn.errors`: InputFileError, CSVFormatError (and the other file errors);
- `mnist_cnn.csv_files`: load_csv (reading files, containers, checksums, caps, cache);
- `mnist_cnn.csv_format`: parse_csv_bytes (the CSV format itself);
- `mnist_cnn.files`: atomic_write, file_sha256, read_checksums;
- `mnist_cnn.dataset`: Dataset, load_dataset, load_csvs, check_labels, to_model_input, one_hot,
  stratified_split.
Import from those; this module goes once nothing imports it any more.
"""

from __future__ import annotations

from mnist_cnn.constants import IMAGE_SIDE, NUM_CLASSES, NUM_PIXELS
from mnist_cnn.csv_cache import CACHE_DIR_NAME
from mnist_cnn.csv_files import CHECKSUM_FILE, load_csv
from mnist_cnn.csv_format import _fastcsv, parse_csv_bytes
from mnist_cnn.dataset import (
    Dataset,
    check_labels,
    load_csvs,
    load_dataset,
    one_hot,
    stratified_split,
    to_model_input,
)
from mnist_cnn.errors import CSVFormatError, InputFileError
from mnist_cnn.files import atomic_write, file_sha256, read_checksums

__all__ = [
    "CACHE_DIR_NAME",
    "CHECKSUM_FILE",
    "IMAGE_SIDE",
    "NUM_CLASSES",
    "NUM_PIXELS",
    "CSVFormatError",
    "Dataset",
    "InputFileError",
    "_fastcsv",
    "atomic_write",
    "check_labels",
    "file_sha256",
    "load_csv",
    "load_csvs",
    "load_dataset",
    "one_hot",
    "parse_csv_bytes",
    "read_checksums",
    "stratified_split",
    "to_model_input",
]
