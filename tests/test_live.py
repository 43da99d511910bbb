"""The notebook's live training display: the line its bar becomes once training ends."""

from __future__ import annotations

from types import SimpleNamespace

from mnist_cnn.live import trained_line


def test_the_finished_bar_says_once_what_was_trained_in_good_english():
    one = SimpleNamespace(epochs_run=1, train_seconds=2.4, best_epoch=1)
    assert trained_line(one) == "trained 1 epoch in 2 s; best epoch 1"
    assert trained_line(SimpleNamespace(epochs_run=16, train_seconds=301.0, best_epoch=15)) == \
        "trained 16 epochs in 301 s; best epoch 15"
    assert trained_line() == "trained"
