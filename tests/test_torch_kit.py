"""The PyTorch groundwork for build-cnn's PyTorch edition (issue #23): the torch kit
describes an nn.Module in the Keras vocabulary the checks use, in forward's call order;
the profile caps training passes over shuffling DataLoaders only; the torchvision stand-in
reads torchvision's MNIST layout."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="install grader[torch]")
nn = torch.nn

from grader.kit import torch as kit  # noqa: E402


class CourseCNN(nn.Module):
    """The course's 2025 PT_Part1 CNN: one nn.ReLU reused, logits out."""

    def __init__(self, functional: bool = False) -> None:
        super().__init__()
        self.functional = functional
        self.conv1, self.pool1 = nn.Conv2d(1, 24, kernel_size=3), nn.MaxPool2d(kernel_size=2)
        self.conv2, self.pool2 = nn.Conv2d(24, 36, kernel_size=3), nn.MaxPool2d(kernel_size=2)
        self.flatten, self.fc1, self.fc2 = nn.Flatten(), nn.Linear(36 * 5 * 5, 128), nn.Linear(128, 10)
        self.relu = nn.ReLU()

    def forward(self, x):
        act = torch.relu if self.functional else self.relu
        x = self.pool1(act(self.conv1(x)))
        x = self.pool2(act(self.conv2(x)))
        return self.fc2(act(self.fc1(self.flatten(x))))


IMAGES = np.random.default_rng(0).integers(0, 256, (4, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("functional", [False, True], ids=["nn.ReLU", "torch.relu"])
def test_summary_in_forwards_order_in_keras_names(functional):
    summary = kit.summary(CourseCNN(functional), kit.prepare(IMAGES))
    layers = [(layer["class"], layer["shape"]) for layer in summary["layers"]
              if layer["class"] != "ReLU"]
    assert layers == [("Conv2D", [26, 26, 24]), ("MaxPooling2D", [13, 13, 24]),
                      ("Conv2D", [11, 11, 36]), ("MaxPooling2D", [5, 5, 36]),
                      ("Flatten", [900]), ("Dense", [128]), ("Dense", [10])]
    assert summary["params"] == 240 + 7812 + 115328 + 1290
    pools = [layer["pool_size"] for layer in summary["layers"] if layer["class"] == "MaxPooling2D"]
    assert pools == [[2, 2]] * 2
    assert summary["output"].shape == (4, 10)
    if functional:
        weighted = [layer for layer in summary["layers"] if layer["class"] in ("Conv2D", "Dense")]
        assert [layer.get("activation") for layer in weighted] == ["relu", "relu", "relu", "linear"]
    else:
        assert sum(layer["class"] == "ReLU" for layer in summary["layers"]) == 3


def test_without_an_activation_nothing_is_called_relu():
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.Linear(128, 10))
    summary = kit.summary(model, kit.prepare(IMAGES))
    assert [layer.get("activation") for layer in summary["layers"]] == [None, "linear", "linear"]


def test_is_torch_does_not_need_an_instance():
    assert kit.is_torch(CourseCNN) and kit.is_torch(CourseCNN()) and not kit.is_torch(np.zeros(2))


def test_profile_caps_shuffled_loaders_only():
    from torch.utils.data import DataLoader, TensorDataset

    from grader.child import profile

    profile._cap_dataloader(3)
    data = TensorDataset(torch.arange(100.0))
    assert sum(1 for _ in DataLoader(data, batch_size=10, shuffle=True)) == 3
    assert sum(1 for _ in DataLoader(data, batch_size=10)) == 10
    assert "a training pass over a shuffled DataLoader (10 batches) stopped after 3" in profile.caps()


def test_torchvision_stand_in_reads_the_raw_idx_files(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    from grader.stand_ins.torchvision import datasets, transforms

    images = IMAGES
    labels = np.array([3, 1, 4, 1], np.uint8)
    for split in ("train", "t10k"):
        for kind, values in (("images-idx3", images), ("labels-idx1", labels)):
            values = np.ascontiguousarray(values)
            header = bytes([0, 0, 8, values.ndim]) + b"".join(d.to_bytes(4, "big") for d in values.shape)
            (raw / f"{split}-{kind}-ubyte").write_bytes(header + values.tobytes())
    to_tensor = transforms.Compose([transforms.ToTensor()])
    dataset = datasets.MNIST(str(tmp_path), train=False, transform=to_tensor)
    image, label = dataset[2]
    assert len(dataset) == 4 and label == 4 and tuple(image.shape) == (1, 28, 28)
    assert torch.equal(image[0], torch.from_numpy(images[2] / 255.0).float())
