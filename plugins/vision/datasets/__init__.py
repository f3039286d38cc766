"""Image datasets: the built-in ``shapes`` set, MNIST (IDX files) and CIFAR-10 (binary batches)."""

from plugins.vision.datasets.base import ImageDataset
from plugins.vision.datasets.cifar import CIFARError, load_cifar10, read_cifar10
from plugins.vision.datasets.download import DownloadError, cache_dir
from plugins.vision.datasets.idx import IDXError, read_idx, write_idx
from plugins.vision.datasets.mnist import load_mnist
from plugins.vision.datasets.shapes import SHAPE_NAMES, load_shapes, make_shapes

__all__ = [
    "ImageDataset", "CIFARError", "IDXError", "DownloadError", "SHAPE_NAMES", "cache_dir",
    "load_cifar10", "load_mnist", "load_shapes", "make_shapes", "read_cifar10", "read_idx", "write_idx",
]
