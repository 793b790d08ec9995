"""The parts of the course's ``mitdeeplearning.lab2`` that Lab 2 uses.

Part 1 (MNIST) plots predictions with ``plot_image_prediction`` and ``plot_value_prediction``;
Part 2 (faces) reads its training file with ``TrainingDatasetLoader``. Same signatures and
the same data handling as the course's package (so batches are drawn from the same
``np.random`` stream), drawn with matplotlib as the course's are.
"""

import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def plot_image_prediction(i, predictions_array, true_label, img):
    """Image ``i`` with its predicted digit, confidence and true label (blue when right)."""
    import matplotlib.pyplot as plt

    predictions_array, true_label, img = predictions_array[i], true_label[i], img[i]
    plt.grid(False)
    plt.xticks([])
    plt.yticks([])
    plt.imshow(np.squeeze(img), cmap=plt.cm.binary)
    predicted_label = np.argmax(predictions_array)
    color = "blue" if predicted_label == true_label else "red"
    plt.xlabel(f"{predicted_label} {100 * np.max(predictions_array):2.0f}% ({true_label})", color=color)


def plot_value_prediction(i, predictions_array, true_label):
    """Bar chart of image ``i``'s ten class probabilities (predicted red, true blue)."""
    import matplotlib.pyplot as plt

    predictions_array, true_label = predictions_array[i], true_label[i]
    plt.grid(False)
    plt.xticks([])
    plt.yticks([])
    bars = plt.bar(range(10), predictions_array, color="#777777")
    plt.ylim([0, 1])
    bars[int(np.argmax(predictions_array))].set_color("red")
    bars[int(true_label)].set_color("blue")


class TrainingDatasetLoader:
    """Reads train_face.h5 (images (N, 64, 64, 3) uint8 BGR, labels (N, 1)), as the course's."""

    def __init__(self, data_path, channels_last=True):
        import h5py

        print(f"Opening {data_path}")
        sys.stdout.flush()
        self.cache = h5py.File(data_path, "r")
        print("Loading data into memory...")
        sys.stdout.flush()
        self.images = self.cache["images"][:]
        self.channels_last = channels_last
        self.labels = self.cache["labels"][:].astype(np.float32)
        self.image_dims = self.images.shape
        n_train_samples = self.image_dims[0]
        self.train_inds = np.random.permutation(np.arange(n_train_samples))
        self.pos_train_inds = self.train_inds[self.labels[self.train_inds, 0] == 1.0]
        self.neg_train_inds = self.train_inds[self.labels[self.train_inds, 0] != 1.0]

    def get_train_size(self):
        return self.train_inds.shape[0]

    def get_train_steps_per_epoch(self, batch_size, factor=10):
        return self.get_train_size() // factor // batch_size

    def get_batch(self, n, only_faces=False, p_pos=None, p_neg=None, return_inds=False):
        if only_faces:
            selected_inds = np.random.choice(self.pos_train_inds, size=n, replace=False, p=p_pos)
        else:
            selected_pos_inds = np.random.choice(self.pos_train_inds, size=n // 2, replace=False,
                                                 p=p_pos)
            selected_neg_inds = np.random.choice(self.neg_train_inds, size=n // 2, replace=False,
                                                 p=p_neg)
            selected_inds = np.concatenate((selected_pos_inds, selected_neg_inds))
        sorted_inds = np.sort(selected_inds)
        train_img = (self.images[sorted_inds, :, :, ::-1] / 255.0).astype(np.float32)
        train_label = self.labels[sorted_inds, ...]
        if not self.channels_last:
            train_img = np.ascontiguousarray(np.transpose(train_img, (0, 3, 1, 2)))
        return (train_img, train_label, sorted_inds) if return_inds else (train_img, train_label)

    def get_n_most_prob_faces(self, prob, n):
        idx = np.argsort(prob)[::-1]
        most_prob_inds = self.pos_train_inds[idx[: 10 * n : 10]]
        return (self.images[most_prob_inds, ...] / 255.0).astype(np.float32)

    def get_all_train_faces(self):
        return self.images[self.pos_train_inds]


def get_test_faces(channels_last=True):
    """Public sample faces of four groups, as four lists of (64, 64, 3) RGB float images.

    The course's groups are light female, light male, dark female, dark male; the grader's
    synthetic faces carry skin tone and hair length instead, so the four lists are light/long,
    light/short, dark/long and dark/short hair. They are never the hidden test faces."""
    with np.load(os.path.join(HERE, "test_faces.npz"), allow_pickle=False) as data:
        groups = [data[key] for key in ("LF", "LM", "DF", "DM")]
    if not channels_last:
        groups = [np.transpose(g, (0, 3, 1, 2)) for g in groups]
    return tuple([image.astype(np.float32) / 255.0 for image in group] for group in groups)


def plot_k(imgs, fname=None):
    """Plots are not drawn when grading."""


def plot_percentile(imgs, fname=None):
    """Plots are not drawn when grading."""


def plot_accuracy_vs_risk(sorted_images, sorted_uncertainty, sorted_preds, plot_title):
    """Plots are not drawn when grading."""
