"""Write the sample images that the notebook and the README predict: `python data/samples/make_samples.py`.

Three digits are drawn here with lines and arcs, as a person might with a thick pen: they come from
no dataset. Two are MNIST test images printed large and photographed, in effect: dark on a light,
slightly uneven page, off-centre, one saved as JPEG. None of them is 28x28 or centred, so each needs
the MNIST-style preparation that `mnist_cnn.data.images.prepare_image` does.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

HERE = Path(__file__).resolve().parent


def pen(size=(360, 300), paper=238) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    page = Image.new("L", size, paper)
    return page, ImageDraw.Draw(page)


def drawn_digits() -> dict[str, Image.Image]:
    seven, draw = pen()
    draw.line([(90, 60), (250, 65), (150, 250)], fill=30, width=22, joint="curve")
    draw.line([(135, 155), (215, 150)], fill=30, width=16)
    zero, draw = pen((300, 400), paper=250)
    draw.ellipse([(80, 70), (210, 330)], outline=20, width=24)
    four, draw = pen((420, 320), paper=228)
    draw.line([(250, 40), (150, 200), (320, 200)], fill=40, width=20, joint="curve")
    draw.line([(280, 120), (270, 290)], fill=40, width=20)
    return {
        "drawn_7.png": seven.filter(ImageFilter.GaussianBlur(1.5)),
        "drawn_0.png": zero.filter(ImageFilter.GaussianBlur(1.5)),
        "drawn_4.png": four.filter(ImageFilter.GaussianBlur(1.5)),
    }


def photographed(digit: np.ndarray, canvas=(300, 400), at=(150, 40), scale=8) -> Image.Image:
    _, cols = np.mgrid[0 : canvas[0], 0 : canvas[1]]
    page = Image.fromarray((215 + 25 * cols / canvas[1]).astype(np.uint8))  # uneven light
    ink = Image.fromarray(digit).resize((28 * scale, 28 * scale), Image.Resampling.BICUBIC)
    page.paste(Image.new("L", ink.size, 25), at, mask=ink)
    return page


def main() -> None:
    from mnist_cnn.data.csv_files import load_csv

    for name, image in drawn_digits().items():
        image.save(HERE / name)
    images, labels = load_csv(HERE.parent / "mnist_test.csv.gz")
    photographed(images[1]).save(HERE / f"mnist_test_1_label_{labels[1]}.png")
    jpeg = HERE / f"mnist_test_3_label_{labels[3]}.jpg"
    photographed(images[3], at=(20, 10), scale=9).save(jpeg, quality=85)


if __name__ == "__main__":
    main()
