"""A stand-in for the part of ``torchvision`` the course's PyTorch Lab 2 uses, while a
notebook is graded.

The course's PT_Part1_MNIST notebook (2025) runs ``import torchvision``,
``torchvision.datasets.MNIST(root='./data', train=..., download=True, transform=...)`` and
``torchvision.transforms.Compose([transforms.ToTensor()])``. PyPI's torchvision is a CUDA
build that does not import beside the CPU torch (``operator torchvision::nms does not
exist``), and importing it costs ~3 s of CPU (``torchvision.ops`` pulls in
``torch._dynamo``). This package does those few things in pure Python with torchvision's
semantics (the same tensors, checked against torchvision 0.28 on 60,000 images). Like the
``mitdeeplearning`` stand-in it comes last on ``sys.path``: a working torchvision wins.

``datasets.MNIST`` never downloads: the grader writes the four idx files under
``./data/MNIST/raw`` (assignments/build-cnn, ``[[provide]]``).
"""

from . import datasets, transforms

__all__ = ["datasets", "transforms"]
__version__ = "0+grader.stand-in"
