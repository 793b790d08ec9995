"""Checks of facial-detection (31 points).

- standard_classifier_model (3): the four strided convolutions with batch normalisation,
  Flatten, Dense(512) (1); logits out, no activation on the last Dense (1); output shape
  (N, n_outputs) for n_outputs 1 and 5 (1).
- vae_loss (3): differential against the reference on hidden tensors, one point each for
  kl_weight 0 (reconstruction term), kl_weight 1 (KL term) and the default 0.0005.
- sampling (4): shape, and fresh draws (1); the mean of many draws (1); their variance (2).
  Statistical, never exact values: see SAMPLING_* below.
- decoder (2): output (N, 64, 64, 3) (1); Dense, Reshape to 4x4, four upsamplings (1).
- ss_vae_loss (3): vae_loss, classification_loss, total_loss, each against the reference on
  hidden tensors (a batch of faces and non-faces).
- ss_vae_model (4): encode, decode, call, predict of a fresh SS_VAE(latent_dim).
- sample_probabilities (3): a distribution (1); rarer latent values get more weight (1); the
  lab's histogram formula (1).
- standard_classifier_trained (5): accuracy on the hidden balanced test set, four steps from
  pass to full marks (4); the worst group's detection rate, and the non-faces' rejection
  rate, reach a floor (1).
- ss_vae_trained (4): accuracy, two steps (2); mean reconstruction error of hidden faces
  below a threshold (1); the worst group's detection rate, and the non-faces' rejection
  rate, reach a floor (1).

Models never cross into the grader: the probes (probes.py) run in the notebook's process and
return plain data (layer lists, logits, losses, samples, per-image reconstruction errors).
Accuracies, per-group rates, gaps and comparisons are computed here with numpy, from labels
and group attributes that stay in this process. This module imports no TensorFlow.

The bias audit. Both trained models are measured on the hidden split: HIDDEN_PER_GROUP faces
in each of the four groups skin tone (light, dark) x hair (short, long), and as many
non-faces. Every student sees, on the last accuracy step of each model (pass or fail), a
table of the detection rate per group (faces predicted as faces), with a bar per group, the
non-faces' accuracy, the gap between the best and the worst group and between the skin
tones. The gap itself is reported, not graded: the lab's point is that a model trained on
skewed data is biased; what is graded is that no group is left behind (WORST_GROUP_FLOOR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from grader.authoring import as_array, assert_close, attach, check, load_sibling, note


def _data_module():
    """data.py, loaded once per process (its splits are cached there)."""
    return load_sibling(__file__, "data.py")


FACES = _data_module()
SOURCE, HIDDEN = FACES.load_hidden()
FACE_IMAGES = HIDDEN.images[HIDDEN.labels == 1]
NON_FACE_IMAGES = HIDDEN.images[HIDDEN.labels == 0]
FACE_SKIN = HIDDEN.skin[HIDDEN.labels == 1]
FACE_HAIR = HIDDEN.hair[HIDDEN.labels == 1]
HAS_GROUPS = bool(np.all(FACE_SKIN >= 0)) and len(FACE_SKIN) > 0


@dataclass(frozen=True)
class Thresholds:
    classifier_pass: float  # standard_classifier's accuracy for the first point
    classifier_full: float  # ... for all points
    ss_vae_pass: float
    ss_vae_full: float
    worst_group_floor_classifier: float  # detection rate every group must reach
    worst_group_floor_ss_vae: float
    recon_error: float  # ss_vae's mean absolute reconstruction error on hidden faces


#: Per dataset, for the grading profile in assignment.toml (4 epochs of 100 steps each).
#: Measured on the synthetic default (benchmarks/facial_detection_time.py): the reference's
#: standard_classifier reaches 0.97 on the hidden split (worst group 0.96), its ss_vae 0.92
#: (worst group 0.88) with a reconstruction error of 0.06; an untrained ss_vae errs by 0.4.
#: Real data: not measured here (no offline copy); check with
#: `GRADER_FACES=/path/train_face.h5 python benchmarks/facial_detection_time.py` first.
THRESHOLDS = {
    "synthetic": Thresholds(classifier_pass=0.80, classifier_full=0.93, ss_vae_pass=0.75,
                            ss_vae_full=0.85, worst_group_floor_classifier=0.85,
                            worst_group_floor_ss_vae=0.75, recon_error=0.30),
    "real": Thresholds(classifier_pass=0.80, classifier_full=0.93, ss_vae_pass=0.75,
                       ss_vae_full=0.85, worst_group_floor_classifier=0.85,
                       worst_group_floor_ss_vae=0.75, recon_error=0.30),
}
LIMITS = THRESHOLDS[SOURCE]
CLASSIFIER_LEVELS = 4
SS_VAE_LEVELS = 2

#: sampling: K distinct (mean, log-variance) rows, each repeated REPEATS times, LATENT wide.
SAMPLING_ROWS, SAMPLING_REPEATS, SAMPLING_LATENT = 8, 2000, 4
#: A draw's mean must be within this many standard errors of z_mean (plus a float margin) ...
SAMPLING_MEAN_SE = 5.0
#: ... and its variance within this relative error of exp(z_logsigma) (the sample variance of
#: 2,000 draws has a relative standard error of 3.2%; a wrong scale is off by 2x or more, since
#: |z_logsigma| >= 0.8 in every hidden case).
SAMPLING_VARIANCE_RTOL = 0.15
LOSS_RTOL, LOSS_ATOL = 1e-4, 1e-6  # float32 in the notebook's process
IMAGE_SHAPE = (64, 64, 3)
LATENT = 32


# --- helpers -----------------------------------------------------------------------------

def layers_text(summary: dict) -> str:
    """``Conv2D 32x32x12 (relu) -> ... (N parameters)`` for feedback."""
    parts = []
    for layer in summary["layers"]:
        shape = "x".join(str(d) for d in layer["shape"]) if layer["shape"] else "?"
        activation = layer.get("activation")
        shown = f" ({activation})" if activation and activation != "linear" else ""
        parts.append(f"{layer['class']} {shape}{shown}")
    return " -> ".join(parts) + f" ({summary['params']:,} parameters)"


def noise_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, *IMAGE_SHAPE), dtype=np.uint8)


def vae_inputs(rng: np.random.Generator, n: int = 6) -> tuple[np.ndarray, ...]:
    x = rng.uniform(0, 1, size=(n, *IMAGE_SHAPE))
    x_recon = np.clip(x + rng.normal(0, 0.2, size=x.shape), 0, 1)
    mu = rng.normal(0, 1, size=(n, LATENT))
    logsigma = rng.normal(0, 0.7, size=(n, LATENT))
    return tuple(a.astype(np.float32) for a in (x, x_recon, mu, logsigma))


def logits_of(output: object, n: int, what: str) -> np.ndarray:
    array = as_array(output, what)
    if array.shape not in ((n,), (n, 1)):
        raise AssertionError(f"{what} returned logits of shape {array.shape}; expected ({n}, 1), "
                             "one face logit per image")
    return array.reshape(n).astype(np.float64)


def level_threshold(level: int, levels: int, low: float, high: float) -> float:
    return low + (high - low) * level / max(1, levels - 1)


def group_rates(face_logits: np.ndarray) -> list[tuple[str, int, float]]:
    """(group, faces, detection rate) for each skin x hair group of the hidden faces."""
    detected = face_logits > 0
    rows = []
    for s, skin in enumerate(FACES.SKINS):
        for h, hair in enumerate(FACES.HAIRS):
            members = (FACE_SKIN == s) & (FACE_HAIR == h)
            rows.append((f"{skin} skin, {hair} hair", int(members.sum()),
                         float(detected[members].mean())))
    return rows


def audit_text(model: str, face_logits: np.ndarray, non_face_logits: np.ndarray,
               extra: dict[str, np.ndarray] | None = None) -> str:
    """The bias audit: a table per group with a bar, the gaps, overall accuracy."""
    faces_ok, non_faces_ok = face_logits > 0, non_face_logits <= 0
    overall = float(np.r_[faces_ok, non_faces_ok].mean())
    lines = [f"{model} on the hidden test set ({len(faces_ok)} faces, {len(non_faces_ok)} "
             f"non-faces): accuracy {overall:.3f}"]
    if not HAS_GROUPS:
        lines.append(f"faces detected {faces_ok.mean():.3f}, non-faces rejected "
                     f"{non_faces_ok.mean():.3f} (this dataset records no groups: no bias audit)")
        return "\n".join(lines)
    rows = group_rates(face_logits)
    extra_names = list(extra or {})
    header = f"{'group':<24}{'faces':>6}{'detected':>10}" + "".join(f"{n:>14}" for n in extra_names)
    lines += ["bias audit, faces detected per group:", header]
    for (group, count, rate), index in zip(rows, range(4), strict=True):
        members = (FACE_SKIN == index // 2) & (FACE_HAIR == index % 2)
        cells = "".join(f"{float(np.mean(extra[n][members])):>14.4f}" for n in extra_names)
        bar = "#" * int(round(rate * 30))
        lines.append(f"{group:<24}{count:>6}{rate:>10.3f}{cells}  {bar}")
    lines.append(f"{'non-faces (rejected)':<24}{len(non_faces_ok):>6}{non_faces_ok.mean():>10.3f}")
    rates = [rate for _, _, rate in rows]
    worst, best = int(np.argmin(rates)), int(np.argmax(rates))
    skin = [float(faces_ok[FACE_SKIN == s].mean()) for s in range(2)]
    lines.append(f"worst-group gap: {rates[best] - rates[worst]:.3f} ({rows[best][0]} "
                 f"{rates[best]:.3f} vs {rows[worst][0]} {rates[worst]:.3f}); skin-tone gap "
                 f"(light - dark): {skin[0] - skin[1]:+.3f}")
    return "\n".join(lines)


def accuracy(face_logits: np.ndarray, non_face_logits: np.ndarray) -> float:
    return float(np.r_[face_logits > 0, non_face_logits <= 0].mean())


# --- make_standard_classifier ------------------------------------------------------------

CONV_FILTERS = [12, 24, 48, 72]
CONV_SPATIAL = [32, 16, 8, 4]
NORMALISING = {"BatchNormalization", "Dropout", "Activation", "ReLU", "LeakyReLU"}


@check("standard_classifier_model", points=1)
def test_classifier_layers(student, rng):
    """make_standard_classifier: four strided Conv2D with BatchNorm, Flatten, Dense(512), Dense"""
    summary = student.probe("make_standard_classifier", noise_images(rng, 4), 1)
    layers = summary["layers"]
    convs = [layer for layer in layers if layer["class"] == "Conv2D"]
    text = layers_text(summary)
    assert len(convs) == 4, f"expected 4 Conv2D layers, got {len(convs)}: {text}"
    spatial = [layer["shape"][0] if layer["shape"] else None for layer in convs]
    filters = [layer.get("filters") for layer in convs]
    assert spatial == CONV_SPATIAL and filters == CONV_FILTERS, (
        "expected Conv2D layers with 12, 24, 48, 72 filters, strides 2 and padding 'same' "
        f"(feature maps 32x32, 16x16, 8x8, 4x4); got {text}")
    assert all(layer.get("activation") == "relu" for layer in convs), (
        f"the convolutions need activation='relu': {text}")
    kinds = [layer["class"] for layer in layers]
    assert kinds.count("BatchNormalization") >= 4, (
        f"expected a BatchNormalization after each convolution: {text}")
    dense = [layer for layer in layers if layer["class"] == "Dense"]
    assert "Flatten" in kinds and len(dense) == 2 and dense[0].get("units") == 512, (
        f"expected Flatten, Dense(512, relu), Dense(n_outputs) after the convolutions: {text}")


@check("standard_classifier_model", points=1)
def test_classifier_returns_logits(student, rng):
    """make_standard_classifier: the last Dense has no activation (logits)"""
    summary = student.probe("make_standard_classifier", noise_images(rng, 4), 1)
    layers = summary["layers"]
    last = next((i for i in range(len(layers) - 1, -1, -1) if layers[i]["class"] == "Dense"), None)
    assert last is not None, f"no Dense layer: {layers_text(summary)}"
    after = [layer.get("activation") or layer["class"].lower() for layer in layers[last + 1:]
             if layer["class"] not in ("Dropout",)]
    activation = layers[last].get("activation", "linear")
    assert activation == "linear" and not after, (
        f"the last layer applies {activation if activation != 'linear' else after[0]}: the model "
        "must return logits (Dense(n_outputs, activation=None)); the loss "
        "sigmoid_cross_entropy_with_logits applies the sigmoid itself")


@check("standard_classifier_model", points=1)
@pytest.mark.parametrize("n_outputs", [1, 5], ids=["1-output", "5-outputs"])
def test_classifier_output_shape(student, rng, n_outputs):
    """make_standard_classifier(n_outputs) maps (N, 64, 64, 3) to (N, n_outputs)"""
    summary = student.probe("make_standard_classifier", noise_images(rng, 3), n_outputs)
    output = as_array(summary["output"], f"make_standard_classifier({n_outputs})")
    assert output.shape == (3, n_outputs), (
        f"for 3 images, make_standard_classifier({n_outputs}) returned shape {output.shape}; "
        f"expected (3, {n_outputs}): {layers_text(summary)}")


# --- vae_loss_function -------------------------------------------------------------------

@check("vae_loss", points=3)
@pytest.mark.parametrize("kl_weight", [0.0, 1.0, None], ids=["reconstruction", "kl", "default"])
def test_vae_loss(student, reference, rng, kl_weight):
    """vae_loss_function matches the reference, one loss per image"""
    args = vae_inputs(rng)
    what = "vae_loss_function(6 images, kl_weight=" + (
        "default)" if kl_weight is None else f"{kl_weight:g})")
    expected = reference.probe("vae_loss_function", *args, kl_weight=kl_weight)
    got = student.probe("vae_loss_function", *args, kl_weight=kl_weight)
    hint = {0.0: " (with kl_weight=0 only the reconstruction term counts: the mean absolute "
                 "difference over height, width and channels)",
            1.0: " (with kl_weight=1 the KL term dominates: 0.5 * sum(exp(logsigma) + mu^2 - 1 - "
                 "logsigma) over the latent dimensions)",
            None: ""}[kl_weight]
    try:
        assert_close(got, expected, what, rtol=LOSS_RTOL, atol=LOSS_ATOL)
    except AssertionError as error:
        raise AssertionError(f"{error}{hint}") from None


# --- sampling ----------------------------------------------------------------------------

def sampling_case(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """K distinct rows of means and log-variances (|logsigma| in 0.8..2), each repeated."""
    mean = rng.uniform(-3, 3, size=(SAMPLING_ROWS, SAMPLING_LATENT))
    logsigma = rng.choice([-1, 1], size=mean.shape) * rng.uniform(0.8, 2.0, size=mean.shape)
    return mean, logsigma


def sampled(student, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(draws (K, REPEATS, LATENT), means (K, LATENT), log-variances (K, LATENT))."""
    mean, logsigma = sampling_case(rng)
    z_mean = np.repeat(mean, SAMPLING_REPEATS, axis=0).astype(np.float32)
    z_logsigma = np.repeat(logsigma, SAMPLING_REPEATS, axis=0).astype(np.float32)
    z = as_array(student.probe("sampling", z_mean, z_logsigma, seed=0), "sampling")
    if z.shape != z_mean.shape:
        raise AssertionError(f"sampling(z_mean, z_logsigma) with z_mean of shape {z_mean.shape} "
                             f"returned shape {z.shape}; expected the shape of z_mean")
    z = z.astype(np.float64).reshape(SAMPLING_ROWS, SAMPLING_REPEATS, SAMPLING_LATENT)
    return z, mean.astype(np.float32).astype(np.float64), logsigma.astype(np.float32).astype(np.float64)


@check("sampling", points=1)
def test_sampling_shape_and_randomness(student, rng):
    """sampling returns z of z_mean's shape, a different draw for each row"""
    z, _, _ = sampled(student, rng)
    assert np.all(np.isfinite(z)), "sampling returned values that are not finite"
    spread = z.std(axis=1)
    assert np.all(spread > 1e-3), (
        "sampling returned the same z for identical rows of (z_mean, z_logsigma): each row needs "
        "its own draw of epsilon ~ N(0, 1) (tf.random.normal of shape (batch, latent_dim))")


@check("sampling", points=1)
def test_sampling_mean(student, rng):
    """sampling: the mean of many draws is z_mean"""
    z, mean, _ = sampled(student, rng)
    standard_error = z.std(axis=1, ddof=1) / np.sqrt(SAMPLING_REPEATS)  # the draws' own
    error = np.abs(z.mean(axis=1) - mean)
    bad = error > SAMPLING_MEAN_SE * standard_error + 1e-3
    assert not bad.any(), (
        f"over {SAMPLING_REPEATS} draws with the same z_mean, the mean of z is off by up to "
        f"{error.max():.3g} ({int(bad.sum())} of {bad.size} cases beyond {SAMPLING_MEAN_SE:g} "
        "standard errors); z = z_mean + exp(0.5 * z_logsigma) * epsilon has mean z_mean")


@check("sampling", points=2)
def test_sampling_variance(student, rng):
    """sampling: the variance of many draws is exp(z_logsigma)"""
    z, _, logsigma = sampled(student, rng)
    ratio = z.var(axis=1, ddof=1) / np.exp(logsigma)
    bad = np.abs(ratio - 1) > SAMPLING_VARIANCE_RTOL
    if bad.any():
        k = np.unravel_index(np.argmax(np.abs(np.log(np.maximum(ratio, 1e-12)))), ratio.shape)
        raise AssertionError(
            f"over {SAMPLING_REPEATS} draws, the variance of z is not exp(z_logsigma) in "
            f"{int(bad.sum())} of {bad.size} cases (tolerance {SAMPLING_VARIANCE_RTOL:.0%}); e.g. "
            f"z_logsigma={logsigma[k]:.3f}: variance {z.var(axis=1, ddof=1)[k]:.4g}, expected "
            f"{np.exp(logsigma[k]):.4g}. z_logsigma is the log of the variance, so the standard "
            "deviation is exp(0.5 * z_logsigma)")


# --- make_face_decoder_network -----------------------------------------------------------

@check("decoder", points=1)
def test_decoder_output_shape(student, rng):
    """make_face_decoder_network maps latent vectors (N, 32) to images (N, 64, 64, 3)"""
    latent = rng.normal(size=(3, LATENT)).astype(np.float32)
    summary = student.probe("make_face_decoder_network", latent)
    output = as_array(summary["output"], "make_face_decoder_network()")
    assert output.shape == (3, *IMAGE_SHAPE), (
        f"for 3 latent vectors of {LATENT} values the decoder returned shape {output.shape}; "
        f"expected (3, 64, 64, 3): {layers_text(summary)}")


@check("decoder", points=1)
def test_decoder_layers(student, rng):
    """make_face_decoder_network: Dense, Reshape to 4x4x72, Conv2DTranspose up to 8, 16, 32, 64"""
    latent = rng.normal(size=(2, LATENT)).astype(np.float32)
    summary = student.probe("make_face_decoder_network", latent)
    layers = summary["layers"]
    text = layers_text(summary)
    kinds = [layer["class"] for layer in layers]
    assert kinds[:2] == ["Dense", "Reshape"], f"expected Dense then Reshape first: {text}"
    assert layers[1]["shape"] == [4, 4, 72], f"expected Reshape to 4x4x72: {text}"
    ups = [layer for layer in layers if layer["class"] == "Conv2DTranspose"]
    sizes = [layer["shape"][0] if layer["shape"] else None for layer in ups]
    filters = [layer.get("filters") for layer in ups]
    assert sizes == [8, 16, 32, 64] and filters == [48, 24, 12, 3], (
        "expected four Conv2DTranspose layers with 48, 24, 12, 3 filters, strides 2 and padding "
        f"'same' (8x8, 16x16, 32x32, 64x64): {text}")


# --- ss_vae_loss_function ----------------------------------------------------------------

def ss_vae_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    x, x_pred, mu, logsigma = vae_inputs(rng, 8)
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0], dtype=np.float32)[rng.permutation(8)].reshape(8, 1)
    y_logit = rng.normal(0, 2, size=(8, 1)).astype(np.float32)
    return x, x_pred, y, y_logit, mu, logsigma


def ss_vae_parts(student, reference, rng) -> tuple[list, list, tuple]:
    """The student's and the reference's three results on the same hidden batch."""
    args = ss_vae_inputs(rng)
    expected = reference.probe("ss_vae_loss_function", *args)["parts"]
    result = student.probe("ss_vae_loss_function", *args)
    parts = result["parts"]
    if len(parts) != 3:
        raise AssertionError(f"ss_vae_loss_function returned a {result['kind']} of {len(parts)} "
                             "values; expected (total_loss, classification_loss, vae_loss)")
    return parts, expected, args


@check("ss_vae_loss", points=1)
def test_ss_vae_loss_vae_term(student, reference, rng):
    """ss_vae_loss_function: vae_loss is vae_loss_function of the batch, one per image"""
    got, expected, _ = ss_vae_parts(student, reference, rng)
    assert_close(got[2], expected[2], "ss_vae_loss_function(8 images)[2] (vae_loss)",
                 rtol=LOSS_RTOL, atol=LOSS_ATOL)


@check("ss_vae_loss", points=1)
def test_ss_vae_loss_classification(student, reference, rng):
    """ss_vae_loss_function: classification_loss is the sigmoid cross-entropy per image"""
    got, expected, _ = ss_vae_parts(student, reference, rng)
    mine = as_array(got[1], "ss_vae_loss_function(...)[1] (classification_loss)")
    assert mine.size == 8, (f"classification_loss has shape {mine.shape}; expected one value per "
                            "image, (8, 1) or (8,)")
    assert_close(mine.reshape(-1), np.asarray(expected[1]).reshape(-1),
                 "ss_vae_loss_function(8 images)[1] (classification_loss)",
                 rtol=LOSS_RTOL, atol=LOSS_ATOL)


@check("ss_vae_loss", points=1)
def test_ss_vae_loss_total(student, reference, rng):
    """ss_vae_loss_function: total_loss is the mean of classification + VAE loss of faces only"""
    got, expected, args = ss_vae_parts(student, reference, rng)
    total = as_array(got[0], "ss_vae_loss_function(...)[0] (total_loss)")
    assert total.size == 1, f"total_loss has shape {total.shape}; expected a scalar (tf.reduce_mean)"
    value, want = float(total.reshape(())), float(np.asarray(expected[0]).reshape(()))
    if np.isclose(value, want, rtol=LOSS_RTOL, atol=LOSS_ATOL):
        return
    y = args[2].reshape(-1)
    c = np.asarray(expected[1], dtype=np.float64).reshape(-1)
    v = np.asarray(expected[2], dtype=np.float64).reshape(-1)
    explanations = [
        (np.mean(c + v), "the VAE term counts for non-faces too; multiply vae_loss by "
                         "face_indicator = (y == 1)"),
        (np.mean(c) + np.mean(y) * np.mean(v), "face_indicator (shape (N, 1)) times vae_loss "
         "(shape (N,)) broadcast to (N, N); flatten y first, e.g. tf.reshape(y, [-1])"),
        (np.mean(c), "the VAE term is missing"),
    ]
    reason = next((text for candidate, text in explanations
                   if np.isclose(value, candidate, rtol=LOSS_RTOL, atol=LOSS_ATOL)), None)
    raise AssertionError(
        f"on a batch of 4 faces and 4 non-faces, total_loss is {value:.6g}, expected {want:.6g}"
        + (f": {reason}" if reason else ""))


# --- SS_VAE ------------------------------------------------------------------------------

SS_VAE_LATENT = 8


def ss_vae_run(student, rng) -> dict:
    return student.probe("SS_VAE", noise_images(rng, 4), SS_VAE_LATENT, seed=0)


def shapes(parts: list) -> list:
    return [tuple(np.shape(p)) if isinstance(p, np.ndarray) else type(p).__name__ for p in parts]


@check("ss_vae_model", points=1)
def test_ss_vae_encode(student, rng):
    """SS_VAE.encode returns y_logit (N, 1), z_mean and z_logsigma (N, latent_dim)"""
    run = ss_vae_run(student, rng)
    want = [(4, 1), (4, SS_VAE_LATENT), (4, SS_VAE_LATENT)]
    got = shapes(run["encode"])
    assert got == want, (f"SS_VAE({SS_VAE_LATENT}).encode(4 images) returned shapes {got}; "
                         f"expected {want}: (y_logit, z_mean, z_logsigma)")


@check("ss_vae_model", points=1)
def test_ss_vae_decode(student, rng):
    """SS_VAE.decode returns images (N, 64, 64, 3)"""
    run = ss_vae_run(student, rng)
    got = shapes([run["decode"]])[0]
    assert got == (4, *IMAGE_SHAPE), (f"SS_VAE({SS_VAE_LATENT}).decode(4 latent vectors) returned "
                                       f"shape {got}; expected (4, 64, 64, 3)")


@check("ss_vae_model", points=1)
def test_ss_vae_call(student, rng):
    """SS_VAE is a keras.Model; calling it returns (y_logit, z_mean, z_logsigma, recon)"""
    run = ss_vae_run(student, rng)
    assert run["is_model"], "SS_VAE must subclass tf.keras.Model"
    got = shapes(run["call"])
    want = [(4, 1), (4, SS_VAE_LATENT), (4, SS_VAE_LATENT), (4, *IMAGE_SHAPE)]
    assert got == want, (f"SS_VAE({SS_VAE_LATENT})(4 images) returned shapes {got}; expected "
                         f"{want}: (y_logit, z_mean, z_logsigma, recon)")
    for index, name in enumerate(("y_logit", "z_mean", "z_logsigma")):
        assert np.allclose(run["call"][index], run["encode"][index], rtol=1e-4, atol=1e-5), (
            f"the {name} that calling the model returns differs from encode's: call should "
            "encode once, sample z with sampling(z_mean, z_logsigma), then decode z")


@check("ss_vae_model", points=1)
def test_ss_vae_predict(student, rng):
    """SS_VAE.predict returns the face logit y_logit of encode"""
    run = ss_vae_run(student, rng)
    got = as_array(run["predict"], f"SS_VAE({SS_VAE_LATENT}).predict")
    assert got.shape == (4, 1), f"predict(4 images) returned shape {got.shape}; expected (4, 1)"
    encoded = np.asarray(run["encode"][0]) if run["encode"] else None
    assert encoded is not None and np.allclose(got, encoded, rtol=1e-4, atol=1e-5), (
        "predict(x) differs from the y_logit of encode(x); it should return that logit")


# --- get_training_sample_probabilities ---------------------------------------------------

def probabilities_of(proxy, mu: np.ndarray, what: str) -> np.ndarray:
    return as_array(proxy.get_training_sample_probabilities(mu), what).astype(np.float64)


@check("sample_probabilities", points=1)
def test_sample_probabilities_distribution(student, rng):
    """get_training_sample_probabilities: one probability per face, non-negative, sum 1"""
    mu = rng.normal(size=(300, 6)) * rng.uniform(0.5, 2, size=6)
    p = probabilities_of(student, mu, "get_training_sample_probabilities(300x6 mu)")
    assert p.shape == (300,), f"returned shape {p.shape}; expected (300,), one per face"
    assert np.all(np.isfinite(p)) and p.min() >= 0, "probabilities must be finite and >= 0"
    assert np.isclose(p.sum(), 1.0, atol=1e-6), f"the probabilities sum to {p.sum():.6g}, not 1"


@check("sample_probabilities", points=1)
def test_sample_probabilities_favour_rare(student, rng):
    """get_training_sample_probabilities: faces with rare latent values get larger probabilities"""
    core = rng.normal(0, 0.3, size=190)
    outliers = rng.uniform(3, 4, size=10)
    mu = np.stack([np.r_[core, outliers], np.zeros(200)], axis=1)
    p = probabilities_of(student, mu, "get_training_sample_probabilities(200x2 mu)")
    assert p.shape == (200,), f"returned shape {p.shape}; expected (200,)"
    common = p[:190][np.abs(core) < 0.3]
    assert p[190:].min() > common.max(), (
        f"190 faces lie near 0 in the first latent dimension and 10 between 3 and 4: the rare "
        f"ones should get the larger probabilities, but the smallest of theirs is "
        f"{p[190:].min():.4g} and the largest of the common ones {common.max():.4g}")


@check("sample_probabilities", points=1)
def test_sample_probabilities_formula(student, reference, rng):
    """get_training_sample_probabilities follows the lab's smoothed-histogram formula"""
    mu = np.concatenate([rng.normal(0, 1, size=(250, 5)),
                         rng.normal(2.5, 0.5, size=(30, 5))]) * rng.uniform(0.3, 3, size=5)
    expected = probabilities_of(reference, mu, "reference")
    got = probabilities_of(student, mu, "get_training_sample_probabilities(280x5 mu)")
    assert_close(got, expected, "get_training_sample_probabilities(280x5 mu)", rtol=1e-5,
                 atol=1e-9)


# --- trained models on the hidden test set -----------------------------------------------

def classifier_logits(student) -> tuple[np.ndarray, np.ndarray]:
    faces = logits_of(student.probe("standard_classifier", FACE_IMAGES), len(FACE_IMAGES),
                      "standard_classifier")
    others = logits_of(student.probe("standard_classifier", NON_FACE_IMAGES),
                       len(NON_FACE_IMAGES), "standard_classifier")
    return faces, others


def ss_vae_outputs(student) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    faces = student.probe("ss_vae", FACE_IMAGES)
    others = student.probe("ss_vae", NON_FACE_IMAGES)
    face_logits = logits_of(faces["logits"], len(FACE_IMAGES), "ss_vae.predict")
    other_logits = logits_of(others["logits"], len(NON_FACE_IMAGES), "ss_vae.predict")
    errors = as_array(faces["recon_error"], "ss_vae's reconstruction").astype(np.float64)
    return face_logits, other_logits, errors


def graded_level(name: str, measured: float, level: int, levels: int, low: float,
                 high: float, report: str) -> None:
    needed = level_threshold(level, levels, low, high)
    if measured >= needed:
        return
    steps = ", ".join(f"{level_threshold(k, levels, low, high):.3f}" for k in range(levels))
    raise AssertionError(f"{name}'s accuracy on the hidden test set is {measured:.3f}; step "
                         f"{level + 1} of {levels} needs {needed:.3f} (steps: {steps})\n{report}")


@check("standard_classifier_trained", points=CLASSIFIER_LEVELS)
@pytest.mark.parametrize("level", range(CLASSIFIER_LEVELS),
                         ids=[f"{k + 1}-of-{CLASSIFIER_LEVELS}" for k in range(CLASSIFIER_LEVELS)])
def test_classifier_accuracy(student, level):
    """standard_classifier's accuracy on hidden faces and non-faces reaches this step"""
    faces, others = classifier_logits(student)
    report = audit_text("standard_classifier", faces, others)
    if level == CLASSIFIER_LEVELS - 1:  # once: the audit every student sees
        note(report)
        attach_chart("standard_classifier", faces, LIMITS.worst_group_floor_classifier)
    graded_level("standard_classifier", accuracy(faces, others), level, CLASSIFIER_LEVELS,
                 LIMITS.classifier_pass, LIMITS.classifier_full, "" if level else report)


def worst_group(face_logits: np.ndarray, non_face_logits: np.ndarray, model: str,
                floor: float) -> None:
    rejected = float(np.mean(non_face_logits <= 0))
    assert rejected >= floor, (
        f"{model} rejects only {rejected:.3f} of the hidden non-faces (needs {floor:.2f}); a "
        "model that calls everything a face detects every group without telling faces apart")
    if not HAS_GROUPS:
        note("this dataset records no groups: only the non-faces were checked")
        return
    rows = group_rates(face_logits)
    group, count, rate = min(rows, key=lambda row: row[2])
    assert rate >= floor, (
        f"{model} detects only {rate:.3f} of the {count} hidden faces with {group} (every group "
        f"needs {floor:.2f}); the training data under-represents some groups: see the bias audit")


@check("standard_classifier_trained", points=1)
def test_classifier_worst_group(student):
    """standard_classifier detects faces of every skin tone and hair group (and rejects non-faces)"""
    faces, others = classifier_logits(student)
    worst_group(faces, others, "standard_classifier", LIMITS.worst_group_floor_classifier)


@check("ss_vae_trained", points=SS_VAE_LEVELS)
@pytest.mark.parametrize("level", range(SS_VAE_LEVELS),
                         ids=[f"{k + 1}-of-{SS_VAE_LEVELS}" for k in range(SS_VAE_LEVELS)])
def test_ss_vae_accuracy(student, level):
    """ss_vae's face classification on the hidden test set reaches this step"""
    faces, others, errors = ss_vae_outputs(student)
    report = audit_text("ss_vae", faces, others, {"recon error": errors})
    if level == SS_VAE_LEVELS - 1:
        note(report)
        attach_chart("ss_vae", faces, LIMITS.worst_group_floor_ss_vae)
    graded_level("ss_vae", accuracy(faces, others), level, SS_VAE_LEVELS, LIMITS.ss_vae_pass,
                 LIMITS.ss_vae_full, "" if level else report)


@check("ss_vae_trained", points=1)
def test_ss_vae_reconstruction(student):
    """ss_vae reconstructs hidden faces: mean absolute error of decode(z_mean) below the threshold"""
    _, _, errors = ss_vae_outputs(student)
    error = float(errors.mean())
    note(f"ss_vae's mean absolute reconstruction error on {len(errors)} hidden faces: {error:.4f}")
    assert error <= LIMITS.recon_error, (
        f"ss_vae reconstructs the hidden faces with a mean absolute pixel error of {error:.4f} "
        f"(pixels in [0, 1]); it needs at most {LIMITS.recon_error}")


@check("ss_vae_trained", points=1)
def test_ss_vae_worst_group(student):
    """ss_vae detects faces of every skin tone and hair group (and rejects non-faces)"""
    faces, others, _ = ss_vae_outputs(student)
    worst_group(faces, others, "ss_vae", LIMITS.worst_group_floor_ss_vae)


# --- the audit as a picture (used outside grading: benchmarks/facial_detection_time.py) ----

def attach_chart(model: str, face_logits: np.ndarray, floor: float) -> None:
    """The audit as a bar chart PNG beside results.json: detection rate per group."""
    if HAS_GROUPS:
        rates = [rate for _, _, rate in group_rates(face_logits)]
        attach(f"bias-audit-{model}.png", FACES.png_bytes(audit_chart([rates], [floor])))
        note(f"bar chart: bias-audit-{model}.png (groups left to right: "
             f"{', '.join(name for name, _, _ in group_rates(face_logits))}; red line: the floor)")


def audit_chart(panels: list[list[float]], floors: list[float], height: int = 160) -> np.ndarray:
    """A bar chart of per-group detection rates as an (h, w, 3) uint8 RGB array, numpy only.

    One panel per model (left to right: standard_classifier, ss_vae), four bars per panel in
    the order of ``FACES.GROUPS`` (light/short, light/long, dark/short, dark/long; light tones
    pale, dark tones deep, long hair hatched), a grey line at each 10%, a red line at the
    panel's floor. No text: the table in the feedback carries the figures."""
    bar, gap, pad = 28, 10, 16
    width_panel = 4 * bar + 3 * gap + 2 * pad
    image = np.full((height + 2 * pad, len(panels) * width_panel, 3), 255, np.uint8)
    colours = [(240, 200, 170), (240, 200, 170), (110, 70, 50), (110, 70, 50)]
    for p, (rates, floor) in enumerate(zip(panels, floors, strict=True)):
        left = p * width_panel + pad
        for tenth in range(11):
            y = pad + height - int(round(height * tenth / 10))
            image[y, left:left + 4 * bar + 3 * gap] = (225, 225, 225)
        for g, rate in enumerate(rates):
            x = left + g * (bar + gap)
            top = pad + height - int(round(height * float(np.clip(rate, 0, 1))))
            image[top:pad + height, x:x + bar] = colours[g]
            if g % 2:  # long hair: hatched
                image[top:pad + height:4, x:x + bar] = (60, 60, 60)
        y = pad + height - int(round(height * floor))
        image[y, left - 4:left + 4 * bar + 3 * gap + 4] = (220, 30, 30)
        image[pad + height, left - 4:left + 4 * bar + 3 * gap + 4] = (0, 0, 0)
    return image
