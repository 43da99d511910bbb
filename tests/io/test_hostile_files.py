"""Untrusted files: decompression bombs, devices and pipes, huge or deep images, model
archive bombs, read-only targets. Each is refused in-process with one clear error and, for the real
command, with one line on stderr and exit status 2, within seconds, writing nothing, under a memory
limit that a gigabytes-large inflation would exceed.

Every malicious file is built here, small: a bomb is one compressed block repeated, never inflated.
"""

from __future__ import annotations

import gzip
import os
import resource
import socket
import stat
import struct
import subprocess
import sys
import threading
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.images import prepare_image, read_image
from mnist_cnn.io.errors import (
    CSVFormatError,
    ImageReadError,
    LimitError,
    ModelFileError,
    OutputPermissionError,
)
from mnist_cnn.io.files import atomic_write
from mnist_cnn.io.limits import DEFAULT_LIMITS, GiB, KiB, Limits, MiB, parse_quantity
from mnist_cnn.io.model_files import check_model_archive
from mnist_cnn.serving.predict import write_submission

ROOT = Path(__file__).resolve().parents[2]
# TensorFlow starts under 3 GiB of address space (measured: it aborts under 2 GiB), and the command
# refusing a file stays far below (under 0.2 GiB, 0.7 GiB with text up to its cap); inflating any of
# the bombs here (3-3.5 GiB) would not fit
MEMORY_LIMIT = 3 * GiB


# -- builders --------------------------------------------------------------------------------------


def gzip_member(unit: bytes, size: int) -> bytes:
    """One gzip member of `unit` repeated to about `size` bytes, compressed a unit at a time."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(unit) for _ in range(max(1, size // len(unit)))]
    return b"".join([*parts, packer.flush()])


def gzip_bomb(unit: bytes, total: int, member: int = 64 * MiB) -> bytes:
    """A valid gzip of `unit` repeated to `total` bytes: one 64 MiB member, concatenated."""
    return gzip_member(unit, member) * (total // member)


def deflate_bomb(total: int, block: int = 16 * MiB) -> bytes:
    """A raw deflate stream of `total` zero bytes: after a full flush the compressor starts afresh, so
    every block compresses to the same bytes, and the stream is one block repeated."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    repeat = packer.compress(bytes(block)) + packer.flush(zlib.Z_FULL_FLUSH)
    return repeat * (total // block) + packer.flush()


def gzip_stream_bomb(total: int) -> bytes:
    """One gzip stream (a single member) of `total` zero bytes, about total / 1000 on disk. Its trailer
    is left zero: computing the CRC would mean hashing `total` bytes, and readers meet the cap first."""
    return b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + deflate_bomb(total) + bytes(8)


def raw_zip(members: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip of (name, stored bytes, method, declared size) written by hand, so a member may declare
    anything; a compressed member's CRC is 0 (readers stop at a cap before they check it)."""
    body, directory = bytearray(), bytearray()
    for name, data, method, size in members:
        offset, encoded = len(body), name.encode()
        crc = zlib.crc32(data) if method == zipfile.ZIP_STORED else 0
        fields = (20, 0, method, 0, 33, crc, len(data), size, len(encoded))
        body += struct.pack("<4s5H3I2H", b"PK\x03\x04", *fields, 0) + encoded + data
        directory += struct.pack("<4sH5H3I5H2I", b"PK\x01\x02", 20, *fields, 0, 0, 0, 0, 0, offset) + encoded
    count = len(members)
    end = struct.pack("<4s4H2IH", b"PK\x05\x06", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


def png(width: int, height: int, idat: bytes, bit_depth: int = 8) -> bytes:
    """A grayscale PNG with this header and image data (which need not be complete)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">2I5B", width, height, bit_depth, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def blank_png(width: int, height: int) -> bytes:
    """A complete, valid, black PNG of any size: its rows compressed a hundred at a time."""
    packer, rows = zlib.compressobj(1), bytes((width + 1) * 100)
    idat = b"".join([*(packer.compress(rows) for _ in range(height // 100)), packer.flush()])
    return png(width, height, idat)


def csv_row(label: int = 3) -> bytes:
    return (f"{label}," + ",".join(["0"] * 400 + ["255"] * 384) + "\n").encode()


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def finishes(call, seconds: float = 10.0, fifo: Path | None = None):
    """Run `call` in a thread: its exception or result, or fail if it blocks (then free the pipe)."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as err:  # handed back to the test
            outcome["error"] = err

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(seconds)
    if worker.is_alive():
        if fifo is not None:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # a writer that leaves: EOF
        pytest.fail(f"still blocked after {seconds} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.fixture(scope="module")
def digit() -> np.ndarray:
    """An MNIST test digit, 4x larger, dark on white as on paper (uint8)."""
    images, _ = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    return 255 - np.kron(images[0], np.ones((4, 4), dtype=np.uint8))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A .keras model the command accepts (28x28x1 in, 10 classes out), of built-in layers only."""
    import keras

    model = keras.Sequential(
        [keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


def run_cli(*args, cwd: Path) -> subprocess.CompletedProcess:
    """The real command in a child process under MEMORY_LIMIT, given a minute."""

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    command = [sys.executable, "-m", "mnist_cnn.cli", *map(str, args)]
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=60, preexec_fn=limit_memory
    )


def assert_refused(done: subprocess.CompletedProcess, path: Path, *words: str) -> str:
    """Status 2 and exactly one line on stderr, naming `path` and every word; returns the line."""
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert str(path) in lines[0] and all(word in lines[0] for word in words), lines[0]
    return lines[0]


# -- CSVs ------------------------------------------------------------------------------------------


def test_gzip_bomb_stops_at_the_text_cap_with_bounded_memory(tmp_path):
    bomb = tmp_path / "bomb.csv.gz"
    bomb.write_bytes(gzip_bomb(bytes(MiB), 256 * MiB))  # 256 KB on disk
    limits = Limits(csv_text_bytes=4 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(LimitError) as caught:
            load_csv(bomb, limits=limits)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 24 * MiB
    err = caught.value
    assert (err.limit, err.cap, err.value) == ("csv_text_bytes", 4 * MiB, None)
    assert str(err).startswith(f"{bomb}: decompresses to more than 4 MiB of text, over the csv_text_bytes")
    assert "--limit csv_text_bytes=8MiB" in str(err) and "limits=Limits(csv_text_bytes=...)" in str(err)


def test_a_single_gzip_stream_and_a_gzip_inside_a_zip_are_capped_too(tmp_path):
    limits = Limits(csv_text_bytes=1 * MiB)
    single = tmp_path / "single.csv.gz"
    single.write_bytes(gzip.compress(bytes(8 * MiB)))
    zipped = tmp_path / "zipped.zip"
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("mnist.csv.gz", single.read_bytes())
    for path in (single, zipped):
        with pytest.raises(LimitError, match="decompresses to more than 1 MiB of text") as caught:
            load_csv(path, limits=limits)
        assert caught.value.limit == "csv_text_bytes"


def test_zip_bomb_is_refused_from_its_declared_size_and_a_lying_header_is_capped(tmp_path):
    honest = tmp_path / "honest.zip"
    honest.write_bytes(raw_zip([("mnist_train.csv", deflate_bomb(256 * MiB), 8, 256 * MiB)]))
    with pytest.raises(LimitError, match=r"mnist_train\.csv, which declares 256 MiB") as caught:
        load_csv(honest, limits=Limits(csv_text_bytes=4 * MiB))
    assert (caught.value.limit, caught.value.value) == ("csv_text_bytes", 256 * MiB)
    lying = tmp_path / "lying.zip"  # declares 1 KiB, inflates to 256 MiB: zipfile stops at 1 KiB
    lying.write_bytes(raw_zip([("mnist_train.csv", deflate_bomb(256 * MiB), 8, KiB)]))
    with pytest.raises(CSVFormatError, match="is not a valid zip file"):
        load_csv(lying, limits=Limits(csv_text_bytes=4 * MiB))


def test_a_zip_of_many_members_is_refused_before_its_directory_is_parsed(tmp_path):
    many = tmp_path / "many.zip"
    many.write_bytes(raw_zip([(f"junk{i}.txt", b"", 0, 0) for i in range(50)] + [("d.csv", b"", 0, 0)]))
    with pytest.raises(LimitError, match="holds 51 members, over the archive_members cap"):
        load_csv(many, limits=Limits(archive_members=10))


def test_valid_rows_beyond_the_caps_are_refused(tmp_path):
    rows = tmp_path / "rows.csv.gz"
    rows.write_bytes(gzip_member(csv_row(), 2 * MiB))
    with pytest.raises(LimitError, match="csv_text_bytes"):
        load_csv(rows, limits=Limits(csv_text_bytes=1 * MiB))
    plain = tmp_path / "plain.csv"
    plain.write_bytes(csv_row() * 5)
    with pytest.raises(LimitError, match="has 5 data rows, over the csv_rows cap") as caught:
        load_csv(plain, limits=Limits(csv_rows=3))
    assert caught.value.value == 5
    with pytest.raises(LimitError, match=r"is 11\.4 KiB, over the csv_file_bytes cap \(4 KiB\)"):
        load_csv(plain, limits=Limits(csv_file_bytes=4 * KiB))
    assert load_csv(plain)[0].shape == (5, 28, 28)  # the defaults take it


def test_devices_pipes_directories_and_sockets_are_refused_unopened(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    with pytest.raises(CSVFormatError, match=r"is a named pipe \(FIFO\), not a CSV file"):
        finishes(lambda: load_csv(fifo), fifo=fifo)
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")
    for path, kind in ((zero, "a character device"), (Path("/dev/zero"), "a character device"),
                       (tmp_path, "a directory")):
        with pytest.raises(CSVFormatError, match=f"is {kind}, not a CSV file"):
            finishes(lambda path=path: load_csv(path))
    sock_path = tmp_path / "s.csv"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(sock_path))
        with pytest.raises(CSVFormatError, match="is a socket"):
            load_csv(sock_path)


# -- images ----------------------------------------------------------------------------------------


def test_pixel_cap_is_checked_from_the_header_before_decoding(tmp_path):
    huge = tmp_path / "huge.png"  # 900 megapixels declared in a few hundred bytes
    huge.write_bytes(png(30000, 30000, zlib.compress(bytes(30001 * 4))))
    with pytest.raises(LimitError, match=r"is 900\.0 megapixels, over the image_pixels cap") as caught:
        read_image(huge)
    assert caught.value.limit == "image_pixels"
    between = tmp_path / "between.png"  # 70.6 MP: over our cap, under Pillow's own; data truncated,
    between.write_bytes(png(8400, 8400, zlib.compress(bytes(8401 * 4))))  # so decoding would fail
    with pytest.raises(LimitError, match=r"is 8400x8400 pixels \(70\.6 megapixels\)"):
        read_image(between)
    large = tmp_path / "large.png"  # 144 MP, complete: Pillow warns and would decode it
    large.write_bytes(blank_png(12000, 12000))
    with pytest.raises(LimitError, match=r"144\.0 megapixels"):
        read_image(large)
    with pytest.raises(LimitError, match="over the image_file_bytes cap"):
        read_image(large, Limits(image_file_bytes=100 * KiB))


def test_images_that_are_not_files_are_refused_unopened(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path, kind in ((fifo, r"a named pipe \(FIFO\)"), (Path("/dev/zero"), "a character device"),
                       (tmp_path, "a directory")):
        with pytest.raises(ImageReadError, match=f"is {kind}, not an image"):
            finishes(lambda path=path: read_image(path), fifo=fifo)


@pytest.mark.parametrize(
    "variant", ["16-bit PNG", "float TIFF [0, 1]", "float TIFF [0, 1000]", "palette PNG"]
)
def test_deep_and_palette_images_prepare_like_their_8_bit_version(tmp_path, digit, variant):
    reference = tmp_path / "digit8.png"
    Image.fromarray(digit).save(reference)
    path = tmp_path / ("digit.tif" if "TIFF" in variant else "digit.png")
    if variant == "16-bit PNG":
        image = Image.fromarray(digit.astype(np.uint16) * 257)
        assert image.mode == "I;16"
    elif variant == "float TIFF [0, 1]":
        image = Image.fromarray(digit.astype(np.float32) / 255)
    elif variant == "float TIFF [0, 1000]":
        image = Image.fromarray(digit.astype(np.float32) * (1000 / 255))
    else:
        image = Image.fromarray(digit).convert("RGB").convert("P", palette=Image.Palette.ADAPTIVE)
    image.save(path)
    expected = prepare_image(read_image(reference))
    got = prepare_image(read_image(path), path)
    assert np.abs(got.astype(int) - expected).max() <= 2


def test_palette_transparency_is_white_paper(tmp_path, digit):
    indices = (digit < 128).astype(np.uint8)  # 1, black, where the ink is; 0, a transparent red, elsewhere
    image = Image.frombytes("P", digit.shape[::-1], indices.tobytes())
    image.putpalette([255, 0, 0, 0, 0, 0])
    path = tmp_path / "ink.png"
    image.save(path, transparency=0)
    gray = read_image(path)
    assert gray[0, 0] == 1.0 and gray.min() == 0.0


def test_a_large_jpeg_is_decoded_reduced(tmp_path, digit):
    photo = Image.new("L", (6000, 4000), 255)
    photo.paste(Image.fromarray(digit).resize((1600, 1600)), (2200, 1200))
    path = tmp_path / "photo.jpg"
    photo.save(path, quality=90)
    gray = read_image(path)
    assert gray.shape == (2000, 3000)  # decoded at half scale, grayscale
    reference = prepare_image(np.asarray(Image.fromarray(digit), dtype=np.float32) / 255)
    assert np.abs(prepare_image(gray).astype(int) - reference).mean() < 8


# -- model archives --------------------------------------------------------------------------------


def keras_members(
    weights: bytes = b"\x89HDF", method: int = 0, size: int | None = None, model: Path | None = None
) -> list:
    """A .keras archive's members; with `model`, its real config and metadata (which Keras reads
    before it inflates the weights)."""
    config, metadata = b"{}", b"{}"
    if model is not None:
        with zipfile.ZipFile(model) as archive:
            config, metadata = archive.read("config.json"), archive.read("metadata.json")
    return [("metadata.json", metadata, 0, len(metadata)), ("config.json", config, 0, len(config)),
            ("model.weights.h5", weights, method, len(weights) if size is None else size)]


def test_keras_archive_bomb_is_refused_before_keras_opens_it(tmp_path, tiny_model):
    check_model_archive(tiny_model)  # what Keras writes passes
    bomb = tmp_path / "bomb.keras"
    bomb.write_bytes(raw_zip(keras_members(deflate_bomb(3 * GiB), 8, 3 * GiB)))
    with pytest.raises(LimitError, match=r"declares 3 GiB uncompressed, over the model_archive_bytes cap"):
        check_model_archive(bomb)
    ratio = tmp_path / "ratio.keras"  # 2 MiB declared from 1 KiB stored: under the total, over the ratio
    ratio.write_bytes(raw_zip(keras_members(bytes(KiB), 8, 2 * MiB)))
    with pytest.raises(LimitError, match=r"weights\.h5 declaring 2 MiB from 1 KiB stored \(2,048 times\)"):
        check_model_archive(ratio)
    with pytest.raises(LimitError, match="over the archive_members cap"):
        check_model_archive(tiny_model, Limits(archive_members=2))
    with pytest.raises(LimitError, match="over the model_file_bytes cap"):
        check_model_archive(tiny_model, Limits(model_file_bytes=KiB))


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        ([*keras_members(), ("../evil.py", b"", 0, 0)], "unsafe name, '../evil.py'"),
        ([*keras_members(), ("/etc/cron.d/x", b"", 0, 0)], "unsafe name, '/etc/cron.d/x'"),
        ([*keras_members(), ("config.json", b"{}", 0, 2)], "two members named 'config.json'"),
        (keras_members()[1:], "lacks metadata.json"),
        (keras_members()[:2], "lacks model.weights.h5 or model.weights.npz"),
        ([*keras_members(), ("payload.so", b"", 0, 0)], "holds 'payload.so', which Keras does not write"),
    ],
)
def test_keras_archives_with_unexpected_members_are_refused(tmp_path, members, reason):
    path = tmp_path / "odd.keras"
    path.write_bytes(raw_zip(members))
    with pytest.raises(ModelFileError, match=reason.replace(".", r"\.")):
        check_model_archive(path)


def test_model_files_that_are_not_files_or_too_large(tmp_path):
    h5 = tmp_path / "model.h5"
    h5.write_bytes(bytes(4 * KiB))
    check_model_archive(h5)  # HDF5 is not inflated whole: only its size is checked
    with pytest.raises(LimitError, match="model_file_bytes"):
        check_model_archive(h5, Limits(model_file_bytes=KiB))
    fifo = tmp_path / "pipe.keras"
    os.mkfifo(fifo)
    with pytest.raises(ModelFileError, match=r"named pipe \(FIFO\), not a model file"):
        finishes(lambda: check_model_archive(fifo), fifo=fifo)


# -- writing ---------------------------------------------------------------------------------------


def test_a_read_only_target_is_kept_and_refused_by_name(tmp_path):
    target = tmp_path / "submission.csv"
    target.write_text("precious\n")
    target.chmod(0o444)
    with pytest.raises(OutputPermissionError) as caught:
        atomic_write(target, lambda handle: handle.write("new"), mode="w")
    assert isinstance(caught.value, PermissionError)
    reason = "is read-only; refusing to replace it (make it writable, or write elsewhere)"
    assert str(caught.value) == f"{target}: {reason}"
    csv = tmp_path / "test.csv"
    csv.write_bytes(csv_row() * 2)
    with pytest.raises(OutputPermissionError, match="is read-only"):  # before a model is needed
        write_submission(object(), csv, target, [str(i) for i in range(10)])
    assert target.read_text() == "precious\n" and files_in(tmp_path) == {"submission.csv", "test.csv"}


def test_a_folder_that_may_not_be_written_is_named_with_the_target(tmp_path, monkeypatch):
    def refuse(**kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.csv.x1y2.tmp"))

    monkeypatch.setattr("mnist_cnn.io.files.tempfile.mkstemp", refuse)
    with pytest.raises(OutputPermissionError) as caught:
        atomic_write(tmp_path / "out.csv", lambda handle: None)
    assert str(caught.value).startswith(f"{tmp_path / 'out.csv'}: cannot be written: no permission")
    assert ".tmp" not in str(caught.value)


# -- limits ----------------------------------------------------------------------------------------


def test_limits_parse_sizes_and_refuse_unknown_names():
    assert [parse_quantity(t) for t in ("2GiB", "500MB", "64M", "1e8", "1_000", "1.5KiB")] == [
        2 * GiB, 500_000_000, 64_000_000, 100_000_000, 1000, 1536]
    limits = DEFAULT_LIMITS.with_overrides(["csv_text_bytes=2GiB", "image_pixels=100M"])
    assert (limits.csv_text_bytes, limits.image_pixels) == (2 * GiB, 10**8)
    assert limits.csv_rows == DEFAULT_LIMITS.csv_rows
    assert limits.with_overrides(["csv_rows=10"]).csv_text_bytes == 2 * GiB  # on an instance: from it
    with pytest.raises(ValueError, match="unknown limit 'csv_bytes'; the limits are: archive_members, "):
        DEFAULT_LIMITS.with_overrides(["csv_bytes=1"])
    for bad in ("csv_rows", "csv_rows=lots", "csv_rows=0", "csv_rows=0.5"):
        with pytest.raises(ValueError, match="csv_rows"):
            DEFAULT_LIMITS.with_overrides([bad])
    with pytest.raises(ValueError, match="positive integer"):
        Limits(csv_rows=0)


# -- the real command ------------------------------------------------------------------------------


@pytest.mark.slow  # fresh processes under a memory limit
def test_command_refuses_csv_bombs_in_seconds_under_a_memory_limit(tmp_path, tiny_model):
    gz = tmp_path / "bomb.csv.gz"
    gz.write_bytes(gzip_stream_bomb(3 * GiB))  # 3 MB on disk, 3 GiB inflated
    zipped = tmp_path / "bomb.zip"
    size = 3 * GiB + 512 * MiB  # a zip without zip64 declares under 4 GiB
    zipped.write_bytes(raw_zip([("mnist_test.csv", deflate_bomb(size), 8, size)]))
    rows = tmp_path / "rows.csv.gz"  # 640 MB of valid rows in under a megabyte
    rows.write_bytes(gzip_bomb(csv_row(), 640 * MiB))
    before = files_in(tmp_path)
    assert_refused(run_cli("evaluate", tiny_model, gz, cwd=tmp_path), gz, "csv_text_bytes cap (512 MiB)")
    done = run_cli("predict", tiny_model, zipped, cwd=tmp_path)
    assert_refused(done, zipped, "declares 3.5 GiB", "csv_text_bytes")
    line = assert_refused(run_cli("predict", tiny_model, rows, "--submission", "out.csv", cwd=tmp_path), rows)
    assert "decompresses to more than 512 MiB of text" in line and "--limit csv_text_bytes=1GiB" in line
    assert files_in(tmp_path) == before


@pytest.mark.slow  # fresh processes
def test_command_refuses_devices_pipes_and_huge_images_in_seconds(tmp_path, tiny_model):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    huge = tmp_path / "huge.png"
    huge.write_bytes(png(30000, 30000, zlib.compress(bytes(30001 * 4))))
    large = tmp_path / "large.png"
    large.write_bytes(blank_png(12000, 12000))
    before = files_in(tmp_path)
    zero = Path("/dev/zero")
    assert_refused(run_cli("evaluate", tiny_model, fifo, cwd=tmp_path), fifo, "named pipe")
    assert_refused(run_cli("predict", tiny_model, zero, cwd=tmp_path), zero, "character device")
    for image, size in ((huge, "900.0 megapixels"), (large, "144.0 megapixels")):
        assert_refused(run_cli("predict", tiny_model, image, cwd=tmp_path), image, size, "image_pixels")
    assert files_in(tmp_path) == before


def test_command_refuses_a_keras_bomb_a_read_only_target_and_applies_limit(tmp_path, tiny_model, digit):
    bomb = tmp_path / "bomb.keras"  # 3 MB: a real model's config, and weights declaring 3 GiB
    bomb.write_bytes(raw_zip(keras_members(deflate_bomb(3 * GiB), 8, 3 * GiB, model=tiny_model)))
    image = tmp_path / "digit.png"
    Image.fromarray(digit).save(image)
    csv = tmp_path / "test.csv"
    csv.write_bytes(csv_row() * 5)
    target = tmp_path / "out.csv"
    target.write_text("precious\n")
    target.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    before = files_in(tmp_path)
    assert_refused(run_cli("predict", bomb, image, cwd=tmp_path), bomb, "model_archive_bytes")
    done = run_cli("predict", tiny_model, csv, "--submission", target, cwd=tmp_path)
    assert_refused(done, target, "read-only")
    assert target.read_text() == "precious\n"
    assert_refused(run_cli("--limit", "csv_rows=3", "evaluate", tiny_model, csv, cwd=tmp_path), csv,
                   "has 5 data rows, over the csv_rows cap (3)")
    assert files_in(tmp_path) == before
    done = run_cli("--limit", "csv_bytes=1", "evaluate", tiny_model, csv, cwd=tmp_path)
    assert done.returncode == 2 and "unknown limit 'csv_bytes'" in done.stderr


@pytest.mark.slow
def test_command_loads_a_real_model_under_the_memory_limit(tmp_path, tiny_model, digit):
    """The limit leaves TensorFlow room: a sound model and image give an answer (and --limit raises a cap)."""
    image = tmp_path / "digit.png"
    Image.fromarray(digit).resize((3000, 3000)).save(image)  # 9 MP
    done = run_cli("--limit", "image_pixels=10M", "predict", tiny_model, image, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.startswith(f"{image}: ")
    # the last one given counts
    limits = ("--limit", "image_pixels=10M", "--limit", "image_pixels=4M")
    refused = run_cli(*limits, "predict", tiny_model, image, cwd=tmp_path)
    assert_refused(refused, image, "image_pixels cap (4.0 megapixels)")

