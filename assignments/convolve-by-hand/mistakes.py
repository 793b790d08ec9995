"""The classic mistakes of convolve-by-hand, as code (read by the feedback, never graded).

Each function computes the answer a mistake gives from the same inputs the hidden checks
gave the student's function; when every wrong answer of the student is the mistake's, the
feedback says the sentence. See "Known mistakes" in docs/authoring.md.
"""

import numpy as np

from grader.authoring import mistake


def _correlate(image, kernel, stride=1, padding=0, plus_one=True):
    image = np.pad(np.asarray(image, dtype=np.float64), padding)
    kernel = np.asarray(kernel, dtype=np.float64)
    kh, kw = kernel.shape
    extra = 1 if plus_one else 0
    out = np.zeros(((image.shape[0] - kh) // stride + extra, (image.shape[1] - kw) // stride + extra))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i * stride:i * stride + kh, j * stride:j * stride + kw] * kernel)
    return out


@mistake("conv2d", "conv2d", says=(
    "conv2d flips the kernel (a true convolution, as in signal processing): the lecture's "
    "convolution slides the kernel as it is, without kernel[::-1, ::-1]. Symmetric kernels "
    "hide it; the hidden checks use non-symmetric ones."))
def flipped_kernel(image, kernel, stride=1, padding=0):
    return _correlate(image, np.asarray(kernel)[::-1, ::-1], stride, padding)


@mistake("conv_layer", "conv_layer", says=(
    "conv_layer gives the answers of a layer whose kernels are flipped (kernel[::-1, ::-1]): "
    "slide each filter as it is; if conv_layer calls your conv2d, fixing conv2d fixes it."))
def flipped_filters(x, filters, biases, stride=1):
    x, filters = np.asarray(x, dtype=np.float64), np.asarray(filters, dtype=np.float64)
    maps = [sum(_correlate(x[:, :, c], filters[::-1, ::-1, c, d], stride) for c in range(x.shape[2]))
            + biases[d] for d in range(filters.shape[3])]
    return np.stack(maps, axis=-1)


@mistake("output_size", "output_size", says=(
    "output_size forgets the +1: a kernel of size k fits (n + 2*padding - k) // stride + 1 "
    "times along an axis of size n (the first position counts too)."))
def without_plus_one(n, k, stride=1, padding=0):
    return (n + 2 * padding - k) // stride


@mistake("softmax", "softmax", says=(
    "softmax does not subtract the maximum before np.exp: exp(1000) overflows to inf and "
    "inf / inf gives nan. Subtract np.max(logits, axis=-1, keepdims=True) first; the result "
    "is the same, without overflow."))
def without_max_shift(logits):
    with np.errstate(over="ignore", invalid="ignore"):
        exp = np.exp(np.asarray(logits, dtype=np.float64))
        return exp / np.sum(exp, axis=-1, keepdims=True)
