"""Own-image preprocessing, predictions, Kaggle submissions and exports, with the committed model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mnist_cnn.data.csv_files import load_csv
from mnist_cnn.data.dataset import to_model_input
from mnist_cnn.data.images import (
    DIGIT_BOX,
    ImageReadError,
    load_images,
    prepare_image,
    read_image,
    stroke_width,
)
from mnist_cnn.serving.model_io import ModelFileError, load_model
from mnist_cnn.serving.predict import predict_digits, write_submission
from tests.conftest import ROOT


def photograph(digit: np.ndarray, rng: np.random.Generator, canvas=(480, 640)) -> Image.Image:
    """A 28x28 MNIST digit as someone's photo of it: drawn large, dark on white, off-centre."""
    scale = int(rng.integers(6, 12))
    big = Image.fromarray(255 - digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    page = Image.new("L", (canvas[1], canvas[0]), color=int(rng.integers(225, 256)))
    top = int(rng.integers(0, canvas[0] - big.height))
    left = int(rng.integers(0, canvas[1] - big.width))
    page.paste(big, (left, top))
    return page


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_own_photos_of_test_digits_are_predicted_as_the_originals(tmp_path, model, test_digits, suffix):
    digits, _ = test_digits
    rng = np.random.default_rng(7)
    paths = []
    for i, digit in enumerate(digits):
        path = tmp_path / f"digit{i}{suffix}"
        photograph(digit, rng).save(path, **({"quality": 90} if suffix == ".jpg" else {}))
        paths.append(path)
    prepared = load_images(paths)
    assert prepared.shape == (len(digits), 28, 28) and prepared.dtype == np.uint8
    original = predict_digits(model, digits, "0123456789")
    mine = predict_digits(model, prepared, "0123456789", [str(p) for p in paths])
    assert [p.label for p in mine] == [p.label for p in original]
    # the round trip through a photo gives back (nearly) the MNIST image itself
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(prepared, digits, strict=True)]
    assert np.median(correlation) > 0.9


def test_prepared_digit_fits_the_box_and_is_centred_by_mass():
    canvas = np.ones((300, 500), dtype=np.float32)  # white paper
    canvas[40:240, 350:380] = 0.0  # a tall dark bar far from the centre: a "1"
    digit = prepare_image(canvas).astype(float)
    rows, cols = np.nonzero(digit > 0)
    assert rows.max() - rows.min() + 1 == DIGIT_BOX  # the long side fills 20 pixels
    assert cols.max() - cols.min() + 1 <= 4  # the aspect is kept (30:200 -> 3:20)
    total = digit.sum()
    rows_idx, cols_idx = np.indices(digit.shape)
    centre = ((rows_idx * digit).sum() / total, (cols_idx * digit).sum() / total)
    assert abs(centre[0] - 14) <= 0.5 and abs(centre[1] - 14) <= 0.5
    assert digit[0].sum() == 0 and digit[:, 0].sum() == 0  # black background: the paper was inverted


def test_light_digit_on_dark_is_not_inverted():
    canvas = np.zeros((100, 100), dtype=np.float32)
    canvas[20:80, 45:55] = 1.0
    assert prepare_image(canvas)[14, 14] == 255  # the stroke stays bright


def test_transparent_png_reads_as_dark_ink_on_white(tmp_path):
    rgba = np.zeros((64, 64, 4), dtype=np.uint8)  # fully transparent
    rgba[10:54, 28:36] = (0, 0, 0, 255)  # an opaque black stroke
    path = tmp_path / "stroke.png"
    Image.fromarray(rgba, "RGBA").save(path)
    gray = read_image(path)
    assert gray[0, 0] == 1.0 and gray[30, 30] == 0.0
    assert prepare_image(gray).max() == 255


def test_blank_and_unreadable_images_are_refused(tmp_path):
    with pytest.raises(ImageReadError, match="no digit found"):
        prepare_image(np.full((50, 50), 0.8, dtype=np.float32), "blank.png")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageReadError, match=r"broken\.png"):
        read_image(broken)
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "missing.png")


def test_top_three_are_sorted_and_match_the_probabilities(model, test_digits):
    digits, labels = test_digits
    predictions = predict_digits(model, digits[:5], "0123456789", top=3)
    probabilities = model.predict(to_model_input(digits[:5]), verbose=0)
    for prediction, row, label in zip(predictions, probabilities, labels[:5], strict=True):
        assert prediction.label == str(label)
        assert [name for name, _ in prediction.top] == [str(i) for i in np.argsort(row)[::-1][:3]]
        assert prediction.confidence == pytest.approx(row.max())


def test_kaggle_submission_has_one_row_per_image_counting_from_one(tmp_path, model, test_digits):
    digits, _ = test_digits
    header = ",".join(f"pixel{i}" for i in range(784))
    rows = [",".join(map(str, image.ravel())) for image in digits]
    test_csv = tmp_path / "test.csv"
    test_csv.write_text("\n".join([header, *rows]) + "\n")
    out = tmp_path / "out" / "submission.csv"
    assert write_submission(model, test_csv, out, "0123456789") == len(digits)
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label"
    expected = model.predict(to_model_input(digits), verbose=0).argmax(1)
    assert lines[1:] == [f"{i},{label}" for i, label in enumerate(expected, start=1)]
    assert [p.name for p in out.parent.iterdir()] == ["submission.csv"]  # no temporary left behind


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    fake = tmp_path / "model.keras"
    fake.write_text("not a zip")
    with pytest.raises(ModelFileError, match="not a Keras model file"):
        load_model(fake)
    with pytest.raises(ModelFileError, match=r"expected a \.keras or \.h5"):
        load_model(ROOT / "README.md")
    with pytest.raises(ModelFileError, match="file not found"):
        load_model(tmp_path / "missing.h5")








def test_a_phone_photo_is_read_the_way_up_its_exif_says(tmp_path, model, test_digits):
    """Orientation 8 (the phone held turned): the pixels are stored on their side, EXIF says how to turn
    them; read sideways, a 7 became a 4 (99.3 %)."""
    from PIL import Image

    digits, labels = test_digits
    upright = photograph(digits[0], np.random.default_rng(3))
    stored = upright.transpose(Image.Transpose.ROTATE_270)  # what exif_transpose's ROTATE_90 undoes
    exif = Image.Exif()
    exif[0x0112] = 8  # Orientation
    path = tmp_path / "phone.jpg"
    stored.save(path, quality=95, exif=exif.tobytes())
    gray = read_image(path)
    assert gray.shape == (upright.height, upright.width)
    assert np.abs(gray * 255 - np.asarray(upright, dtype=np.float32)).mean() < 3  # JPEG noise only
    [prediction] = predict_digits(model, load_images([path]), [str(d) for d in range(10)])
    assert prediction.label == str(labels[0])


@pytest.mark.parametrize("pen", [1, 2, 3, 5, 8, 12, 20, 30, 40, 80, 160])
def test_a_digit_drawn_with_any_pen_on_a_large_page_keeps_its_ink(model, pen):
    """A 7 drawn 1-3 px wide on a 600x800 page once shrank to a brightest pixel of 16-36/255 (read as
    a 1); strokes are widened before scaling so they end up as bright as a wide pen's. From 1 px to
    40 px the prepared digit holds about the same ink; wider pens (to 160 px, over half the 7's bar)
    leave more, and the 7 is still read."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (600, 800), 255)
    ImageDraw.Draw(page).line([(150, 200), (450, 200), (250, 650)], fill=0, width=pen)
    digit = prepare_image(np.asarray(page, dtype=np.float32) / 255.0)
    assert digit.max() == 255
    if pen <= 40:
        assert 40 <= int((digit > 128).sum()) <= 90  # about as much bright ink as the 40 px pen's
    [prediction] = predict_digits(model, digit[None], [str(d) for d in range(10)])
    assert prediction.label == "7"


def test_stroke_width_measures_lines_and_a_thick_pen_is_left_alone(monkeypatch):
    for width, low, high in [(2, 1.9, 2.1), (3, 2.8, 3.1), (6, 5.0, 6.1)]:
        mask = np.zeros((50, 50), dtype=bool)
        mask[10:40, 20 : 20 + width] = True
        assert low <= stroke_width(mask) <= high
    bold = np.zeros((280, 280), dtype=np.float32)
    bold[40:240, 120:160] = 1.0  # a 40 px bar: scaled by 0.1 it is still 4 px wide
    prepared = prepare_image(bold)
    monkeypatch.setattr("mnist_cnn.data.images.MIN_STROKE", 0.0)  # widening off
    np.testing.assert_array_equal(prepared, prepare_image(bold))


def test_noise_and_filled_shapes_are_refused_as_not_a_digit_but_mnist_digits_are_not(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1200, 1600), dtype=np.uint8)
    path = tmp_path / "noise.png"
    Image.fromarray(noise).save(path)
    with pytest.raises(ImageReadError, match="does not look like a digit: ink fills 100% of its box"):
        load_images([path])
    block = np.ones((300, 300), dtype=np.float32)
    block[50:250, 80:220] = 0.0  # a black rectangle on white paper
    with pytest.raises(ImageReadError, match="does not look like a digit"):
        prepare_image(block)
    images, _ = load_csv(ROOT / "data" / "mnist_test.csv.gz")
    for digit in images[:3000]:  # every one prepares (the check leaves real digits alone)
        prepare_image(digit.astype(np.float32) / 255.0)


def test_a_tie_goes_to_the_lower_class_as_argmax_has_it(tmp_path):
    import keras

    # a real network whose logits tie between classes 1 and 2 for every image
    inputs = keras.Input((28, 28, 1))
    logits = keras.layers.Dense(10, kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant([0, 3, 3, 0, 0, 0, 0, 0, 0, 0]))
    model = keras.Model(inputs, keras.layers.Softmax()(logits(keras.layers.Flatten()(inputs))))
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    assert [p.label for p in predict_digits(model, images, "0123456789")] == ["1", "1"]
    assert predict_digits(model, images, "0123456789")[0].top[1][0] == "2"
    csv = tmp_path / "test.csv"
    csv.write_text("pixel" + ",pixel".join(map(str, range(784))) + "\n" + ("0," * 783 + "0\n") * 2)
    assert write_submission(model, csv, tmp_path / "out.csv", "0123456789") == 2
    assert (tmp_path / "out.csv").read_text() == "ImageId,Label\n1,1\n2,1\n"
