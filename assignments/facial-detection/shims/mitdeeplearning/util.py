"""The parts of the course's `mitdeeplearning.util` that the labs use, without plotting."""

import numpy as np


class LossHistory:
    """Exponentially smoothed losses, as the course's."""

    def __init__(self, smoothing_factor=0.0):
        self.alpha = smoothing_factor
        self.loss = []

    def append(self, value):
        value = float(np.mean(value))
        self.loss.append(self.alpha * self.loss[-1] + (1 - self.alpha) * value
                         if self.loss else value)

    def get(self):
        return self.loss


class PeriodicPlotter:
    """The course's live plot; grading has no screen, so it only keeps the data."""

    def __init__(self, sec, xlabel="", ylabel="", scale=None):
        self.sec, self.xlabel, self.ylabel, self.scale = sec, xlabel, ylabel, scale
        self.data = None

    def plot(self, data):
        self.data = data


def display_model(model):
    """Model diagrams are not drawn when grading."""


def plot_sample(x, y, vae):
    """Plots are not drawn when grading."""
