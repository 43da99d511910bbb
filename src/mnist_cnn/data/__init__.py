"""MNIST-style CSVs: the format and its parsers (C and NumPy), reading plain, gzip and zip files, the
parsed-file cache, and the dataset with its stratified validation split; and digit images of your own,
read and prepared as MNIST's were (images)."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "parse_csv_bytes": "csv_format", "header_has_label": "csv_layout",
    "load_csv": "csv_files",
    "Dataset": "dataset", "load_dataset": "dataset", "load_csvs": "dataset", "stratified_split": "dataset",
    "to_model_input": "dataset", "one_hot": "dataset", "check_labels": "dataset",
    "read_image": "images", "prepare_image": "images", "load_images": "images",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
