"""Input files from strangers and the files we write: size caps, bounded reads, decompression with
ratio limits, atomic writes, one switch-over for a run's files, a lock per run directory, model-archive
checks, and the one-line errors they raise."""

from mnist_cnn._lazy import lazy_exports

_EXPORTS = {
    "InputFileError": "errors", "CSVFormatError": "errors", "ImageReadError": "errors",
    "ModelFileError": "errors", "LimitError": "errors", "OutputPermissionError": "errors",
    "Limits": "limits", "DEFAULT_LIMITS": "limits", "parse_quantity": "limits", "format_quantity": "limits",
    "check_regular_file": "files", "read_regular_file": "files", "check_writable_target": "files",
    "atomic_path": "files", "atomic_write": "files", "file_sha256": "files", "read_checksums": "files",
    "TooLargeError": "inflate", "gunzip": "inflate", "read_zip_member": "inflate",
    "check_model_archive": "model_files",
    "directory_lock": "locks", "DirectoryBusyError": "locks",
    "switch_over": "switch", "finish_switch_over": "switch",
    "silence_native_stderr": "native_logs", "restore_native_stderr": "native_logs",
    "filter_native_stderr": "native_logs",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
