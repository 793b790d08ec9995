"""Checks of facial-detection (17 points; 20 with the optional question; in either edition).

The questions follow the TODOs of the course's 2023 notebook, under its names; the code it
gives (make_standard_classifier and its training loop, make_face_decoder_network,
SS_VAE.encode and SS_VAE.predict) earns nothing.

- vae_loss (3): differential against the reference on hidden tensors, one point each for
  kl_weight 0 (reconstruction term), kl_weight 1 (KL term) and the default 0.0005.
- sampling (4): shape, and fresh draws (1); the mean of many draws (1); their variance (2).
  Statistical, never exact values: see SAMPLING_* below.
- ss_vae_loss (3): vae_loss, classification_loss, total_loss, each against the reference on
  hidden tensors (a batch of faces and non-faces); the total's feedback recognises the usual
  slips, among them the course's own (N, 1) x (N,) broadcast.
- ss_vae_model (3): of a fresh SS_VAE: decode returns the decoder's images (1); calling the
  model returns (y_logit, z_mean, z_logsigma, recon) of encode (1); recon is the decoding of
  z = sampling(z_mean, z_logsigma) (1).
- ss_vae_trained (4): the training step: on a fresh model, it applies the gradients of
  ss_vae_loss_function's total loss to every variable (1); the trained ss_vae on the hidden
  test set: accuracy, two steps (2); mean reconstruction error of hidden faces below a
  threshold (1).
  Its bias audit (per-group table, chart, worst group) is reported by a 0-point check.
- standard_classifier_trained (0): the given classifier, trained by the given loop: its
  accuracy and bias audit are reported, never scored (the lab sets out to show its bias).
- sample_probabilities (3, optional: the DB-VAE's resampling, not in the 2023 lab): a
  distribution (1); rarer latent values get more weight (1); the lab's histogram formula, with
  the default bins and smoothing and with others (1).
  Where the notebook does not define get_training_sample_probabilities, the question is left
  out of the grade and of the maximum. Either signature is graded: ours, (mu, bins,
  smoothing_fac), or the DB-VAE notebooks', (images, dbvae, bins, smoothing_fac), whose own
  get_latent_mu gets mu from a stand-in model (probes.py).

The DB-VAE editions (the course's 2022, 2024 and 2025 notebooks) ask for the same model
under other names; assignment.toml's [[alternatives]] grades a notebook on one edition, the
SS-VAE's three questions above or these three (same points):

- debiasing_loss (3): classification_loss against the reference (1); total_loss of a batch of
  non-faces only, where the VAE term must not count (1); total_loss of 4 faces and 4
  non-faces (1), whose feedback recognises the same slips as ss_vae_loss's.
- db_vae_model (3): of a fresh DB_VAE, as ss_vae_model: decode (1); call returns encode's
  (1); reparameterize draws what sampling draws, and call decodes that sample (1).
- db_vae_trained (4): as ss_vae_trained, for debiasing_train_step (1) and the trained dbvae:
  accuracy, two steps (2), reconstruction (1); its bias audit is reported (0 points).

Models never cross into the grader: the probes (probes.py) run in the notebook's process and
return plain data (logits, losses, samples, images, per-image reconstruction errors).
Accuracies, per-group rates, gaps and comparisons are computed here with numpy, from labels
and group attributes that stay in this process. This module imports no TensorFlow.

The bias audit. Both trained models are measured on the hidden split: HIDDEN_PER_GROUP faces
in each of the four groups skin tone (light, dark) x hair (short, long), and as many
non-faces. Every student sees a table of the detection rate per group (faces predicted as
faces), with a bar per group and a chart, the non-faces' accuracy, the gap between the best
and the worst group and between the skin tones. The 2023 lab shows the bias and does not ask
to reduce it, so the audit is reported and no point depends on it.

Training is capped by the grading profile (prelude.py); the feedback says what was capped.
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
    ss_vae_pass: float  # ss_vae's accuracy on the hidden test set for the first point
    ss_vae_full: float  # ... for both points
    recon_error: float  # ss_vae's mean absolute reconstruction error on hidden faces
    audit_line: float  # the audit chart's red line, a detection rate to compare groups with
    db_vae_pass: float  # the DB-VAE editions' dbvae: accuracy for the first point
    db_vae_full: float  # ... for both points
    db_vae_recon_error: float  # dbvae's mean absolute reconstruction error on hidden faces


#: Per dataset, for the grading profile of prelude.py (tqdm loops cut at 60 steps: 120
#: classifier steps, 360 SS-VAE steps). Measured on the synthetic default
#: (benchmarks/facial_detection_time.py and the examples, seed 7): the ss_vae of the course's
#: solution reaches an accuracy of 0.861 with a reconstruction error of 0.196, ours 0.869 and
#: 0.20; variants that train (sampling, call or loss slips) 0.86-0.87 and 0.19-0.20. Broken
#: training: an ss_vae whose decoder never learns errs by 0.49; an untrained one is at chance
#: (0.5), a diverged one (NaN) at 0. The given standard_classifier reaches 0.73 (reported).
#: The DB-VAE editions' dbvae trains one epoch (2024, 2025: 60 steps under the profile) or six
#: (2022: 360 steps): the course's 2024 solution reaches 0.686 and errs by 0.272, ours (one
#: epoch) 0.684 and 0.289, the 2022 solution 0.836 and 0.220; hence lower thresholds for it.
#: Real data: not measured here (no offline copy); check with
#: `GRADER_FACES=/path/train_face.h5 python benchmarks/facial_detection_time.py` first.
THRESHOLDS = {
    "synthetic": Thresholds(ss_vae_pass=0.65, ss_vae_full=0.75, recon_error=0.30,
                            audit_line=0.75, db_vae_pass=0.57, db_vae_full=0.62,
                            db_vae_recon_error=0.38),
    "real": Thresholds(ss_vae_pass=0.65, ss_vae_full=0.75, recon_error=0.30,
                       audit_line=0.75, db_vae_pass=0.57, db_vae_full=0.62,
                       db_vae_recon_error=0.38),
}
LIMITS = THRESHOLDS[SOURCE]
SS_VAE_LEVELS = 2
DB_VAE_LEVELS = 2

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
    explain_total(float(total.reshape(())), float(np.asarray(expected[0]).reshape(())), args[2],
                  expected[1], expected[2])


def explain_total(value: float, want: float, y: np.ndarray, classification: object,
                  vae: object) -> None:
    """Pass when total_loss ``value`` is ``want``; otherwise fail saying which usual slip gives
    ``value`` (from the reference's per-image classification and VAE losses)."""
    if np.isclose(value, want, rtol=LOSS_RTOL, atol=LOSS_ATOL):
        return
    y = np.asarray(y).reshape(-1)
    c = np.asarray(classification, dtype=np.float64).reshape(-1)
    v = np.asarray(vae, dtype=np.float64).reshape(-1)
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
        f"on a batch of {int(np.sum(y == 1))} faces and {int(np.sum(y != 1))} non-faces, total_loss "
        f"is {value:.6g}, expected {want:.6g}"
        + (f": {reason}" if reason else ""))


# --- debiasing_loss_function (the DB-VAE editions) -----------------------------------------

def debiasing_parts(student, reference, args: tuple) -> tuple[list, list]:
    """The student's and the reference's (total_loss, classification_loss) on ``args``."""
    expected = reference.probe("debiasing_loss_function", *args)["parts"]
    result = student.probe("debiasing_loss_function", *args)
    parts = result["parts"]
    if len(parts) != 2:
        raise AssertionError(f"debiasing_loss_function returned a {result['kind']} of {len(parts)} "
                             "values; expected (total_loss, classification_loss)")
    return parts, expected


def debiasing_total(parts: list) -> float:
    total = as_array(parts[0], "debiasing_loss_function(...)[0] (total_loss)")
    assert total.size == 1, f"total_loss has shape {total.shape}; expected a scalar (tf.reduce_mean)"
    return float(total.reshape(()))


@check("debiasing_loss", points=1)
def test_debiasing_loss_classification(student, reference, rng):
    """debiasing_loss_function: classification_loss is the sigmoid cross-entropy per image"""
    got, expected = debiasing_parts(student, reference, ss_vae_inputs(rng))
    mine = as_array(got[1], "debiasing_loss_function(...)[1] (classification_loss)")
    assert mine.size == 8, (f"classification_loss has shape {mine.shape}; expected one value per "
                            "image, (8, 1) or (8,)")
    assert_close(mine.reshape(-1), np.asarray(expected[1]).reshape(-1),
                 "debiasing_loss_function(8 images)[1] (classification_loss)",
                 rtol=LOSS_RTOL, atol=LOSS_ATOL)


@check("debiasing_loss", points=1)
def test_debiasing_loss_non_faces(student, reference, rng):
    """debiasing_loss_function: on non-faces only, total_loss is the classification loss alone"""
    x, x_pred, _, y_logit, mu, logsigma = ss_vae_inputs(rng)
    y = np.zeros((8, 1), dtype=np.float32)
    got, expected = debiasing_parts(student, reference, (x, x_pred, y, y_logit, mu, logsigma))
    vae = reference.probe("vae_loss_function", x, x_pred, mu, logsigma)  # for the feedback
    explain_total(debiasing_total(got), float(np.asarray(expected[0]).reshape(())), y,
                  expected[1], vae)


@check("debiasing_loss", points=1)
def test_debiasing_loss_total(student, reference, rng):
    """debiasing_loss_function: total_loss is the mean of classification + VAE loss of faces only"""
    x, x_pred, y, y_logit, mu, logsigma = ss_vae_inputs(rng)
    got, expected = debiasing_parts(student, reference, (x, x_pred, y, y_logit, mu, logsigma))
    vae = reference.probe("vae_loss_function", x, x_pred, mu, logsigma)  # for the feedback
    explain_total(debiasing_total(got), float(np.asarray(expected[0]).reshape(())), y,
                  expected[1], vae)


# --- SS_VAE and DB_VAE: decode and call ----------------------------------------------------

SS_VAE_LATENT = 8


def ss_vae_run(student, rng, model: str = "SS_VAE") -> dict:
    """What a fresh SS_VAE(SS_VAE_LATENT) (or DB_VAE) does with 4 hidden images and 4 latent
    vectors."""
    z = rng.normal(size=(4, SS_VAE_LATENT)).astype(np.float32)
    return student.probe(model, noise_images(rng, 4), z, SS_VAE_LATENT, seed=0)


def answered(run: dict, key: str):
    """One part of the SS_VAE probe, or a failure with the error it reported."""
    part = run[key]
    if isinstance(part, dict) and "error" in part:
        raise AssertionError(part["error"])
    return part


def shapes(parts: list) -> list:
    return [tuple(np.shape(p)) if isinstance(p, np.ndarray) else type(p).__name__ for p in parts]


def decode_is_the_decoder(run: dict, model: str) -> None:
    got = as_array(answered(run, "decode"), f"{model}({SS_VAE_LATENT}).decode(4 latent vectors)")
    assert got.shape == (4, *IMAGE_SHAPE), (
        f"{model}({SS_VAE_LATENT}).decode(4 latent vectors) returned shape {got.shape}; expected "
        "(4, 64, 64, 3): the images self.decoder makes of z")
    assert_close(got, run["decoder"], f"{model}({SS_VAE_LATENT}).decode(4 latent vectors) "
                 "compared with self.decoder(z)", rtol=1e-4, atol=1e-5)


def call_returns_encode(run: dict, model: str) -> None:
    assert run["is_model"], f"{model} must subclass tf.keras.Model"
    call = answered(run, "call")
    got = shapes(call)
    want = [(4, 1), (4, SS_VAE_LATENT), (4, SS_VAE_LATENT), (4, *IMAGE_SHAPE)]
    assert got == want, (f"{model}({SS_VAE_LATENT})(4 images) returned shapes {got}; expected "
                         f"{want}: (y_logit, z_mean, z_logsigma, recon)")
    for index, name in enumerate(("y_logit", "z_mean", "z_logsigma")):
        assert np.allclose(call[index], run["encode"][index], rtol=1e-4, atol=1e-5), (
            f"the {name} that calling the model returns differs from encode's: call should "
            "encode x once and return encode's y_logit, z_mean and z_logsigma")


def call_decodes_a_sample(run: dict, model: str, how: str) -> None:
    parts = answered(run, "call")
    assert len(parts) == 4 and np.shape(parts[3]) == (4, *IMAGE_SHAPE), (
        f"{model}({SS_VAE_LATENT})(4 images) returned shapes {shapes(parts)}; expected its last "
        "value to be the reconstruction, (4, 64, 64, 3)")
    recon = np.asarray(parts[3], dtype=np.float64)
    if np.allclose(recon, run["decoded_mean"], rtol=1e-4, atol=1e-5):
        raise AssertionError("the reconstruction is the decoding of z_mean: call should sample "
                             f"z = {how} and decode that z")
    assert np.allclose(recon, answered(run, "decoded_sample"), rtol=1e-4, atol=1e-5), (
        f"the reconstruction is not the decoding of z = {how} (with "
        "encode's z_mean and z_logsigma, in that order): call should sample z with the "
        "notebook's sampling function, then return self.decode(z)")


@check("ss_vae_model", points=1)
def test_ss_vae_decode(student, rng):
    """SS_VAE.decode returns the decoder's reconstruction (N, 64, 64, 3)"""
    decode_is_the_decoder(ss_vae_run(student, rng), "SS_VAE")


@check("ss_vae_model", points=1)
def test_ss_vae_call(student, rng):
    """calling SS_VAE returns (y_logit, z_mean, z_logsigma, recon) with encode's first three"""
    call_returns_encode(ss_vae_run(student, rng), "SS_VAE")


@check("ss_vae_model", points=1)
def test_ss_vae_call_samples(student, rng):
    """calling SS_VAE decodes a sample z = sampling(z_mean, z_logsigma), not z_mean"""
    call_decodes_a_sample(ss_vae_run(student, rng), "SS_VAE", "sampling(z_mean, z_logsigma)")


@check("db_vae_model", points=1)
def test_db_vae_decode(student, rng):
    """DB_VAE.decode returns the decoder's reconstruction (N, 64, 64, 3)"""
    decode_is_the_decoder(ss_vae_run(student, rng, "DB_VAE"), "DB_VAE")


@check("db_vae_model", points=1)
def test_db_vae_call(student, rng):
    """calling DB_VAE returns (y_logit, z_mean, z_logsigma, recon) with encode's first three"""
    call_returns_encode(ss_vae_run(student, rng, "DB_VAE"), "DB_VAE")


@check("db_vae_model", points=1)
def test_db_vae_reparameterize_and_call_samples(student, rng):
    """DB_VAE.reparameterize is sampling, and calling DB_VAE decodes such a sample, not z_mean"""
    run = ss_vae_run(student, rng, "DB_VAE")
    drawn = as_array(answered(run, "reparameterize"),
                     f"DB_VAE({SS_VAE_LATENT}).reparameterize(z_mean, z_logsigma)")
    assert drawn.shape == (4, SS_VAE_LATENT) and np.allclose(
        drawn, answered(run, "sampled"), rtol=1e-4, atol=1e-5), (
        f"DB_VAE({SS_VAE_LATENT}).reparameterize(z_mean, z_logsigma) returned shape "
        f"{drawn.shape}, not the draw sampling(z_mean, z_logsigma) makes with the same seed: "
        "reparameterize should return the notebook's sampling(z_mean, z_logsigma)")
    call_decodes_a_sample(run, "DB_VAE", "self.reparameterize(z_mean, z_logsigma)")


# --- get_training_sample_probabilities ---------------------------------------------------

def probabilities_of(proxy, mu: np.ndarray, what: str, **options: float) -> np.ndarray:
    """get_training_sample_probabilities of faces with latent means ``mu``, in the notebook's
    signature: ours, (mu, ...), or the course's DB-VAE notebooks', (images, dbvae, ...),
    which the probe answers with a stand-in model that encodes to ``mu``."""
    got = proxy.probe("get_training_sample_probabilities", mu, **options)
    return as_array(got, what).astype(np.float64)


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
@pytest.mark.parametrize("options", [{}, {"bins": 7, "smoothing_fac": 0.01}],
                         ids=["defaults", "bins-7-smoothing-0.01"])
def test_sample_probabilities_formula(student, reference, rng, options):
    """get_training_sample_probabilities follows the lab's smoothed-histogram formula"""
    mu = np.concatenate([rng.normal(0, 1, size=(250, 5)),
                         rng.normal(2.5, 0.5, size=(30, 5))]) * rng.uniform(0.3, 3, size=5)
    shown = ", ".join(f"{key}={value:g}" for key, value in options.items())
    what = f"get_training_sample_probabilities(280x5 mu{', ' + shown if shown else ''})"
    expected = probabilities_of(reference, mu, "reference", **options)
    got = probabilities_of(student, mu, what, **options)
    assert_close(got, expected, what, rtol=1e-5, atol=1e-9)


# --- trained models on the hidden test set -----------------------------------------------

def classifier_logits(student) -> tuple[np.ndarray, np.ndarray]:
    faces = logits_of(student.probe("standard_classifier", FACE_IMAGES), len(FACE_IMAGES),
                      "standard_classifier")
    others = logits_of(student.probe("standard_classifier", NON_FACE_IMAGES),
                       len(NON_FACE_IMAGES), "standard_classifier")
    return faces, others


def ss_vae_outputs(student, model: str = "ss_vae") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The trained ss_vae's (or dbvae's) face logits of the hidden faces and non-faces, and its
    reconstruction error of each hidden face."""
    faces = student.probe(model, FACE_IMAGES)
    others = student.probe(model, NON_FACE_IMAGES)
    face_logits = logits_of(faces["logits"], len(FACE_IMAGES), f"{model}.predict")
    other_logits = logits_of(others["logits"], len(NON_FACE_IMAGES), f"{model}.predict")
    errors = as_array(faces["recon_error"], f"{model}'s reconstruction").astype(np.float64)
    return face_logits, other_logits, errors


def note_profile(student) -> None:
    """Say what the grading profile capped in this notebook's run (training loops)."""
    caps = student.probe("grading_profile")
    if isinstance(caps, list) and caps:
        note("Trained under the grading profile, shorter than the notebook asks: "
             + "; ".join(str(cap) for cap in caps) + ". The thresholds are set for this run.")


def graded_level(name: str, measured: float, level: int, levels: int, low: float,
                 high: float, report: str) -> None:
    needed = level_threshold(level, levels, low, high)
    if measured >= needed:
        return
    steps = ", ".join(f"{level_threshold(k, levels, low, high):.3f}" for k in range(levels))
    raise AssertionError(f"{name}'s accuracy on the hidden test set is {measured:.3f}; step "
                         f"{level + 1} of {levels} needs {needed:.3f} (steps: {steps})\n{report}")


@check("standard_classifier_trained", points=0)
def test_classifier_audit(student):
    """standard_classifier (given code): accuracy and bias audit on hidden faces (reported)

    Worth 0 points: the classifier and its training are given; this check fails only when the
    trained model cannot be measured, and its notes show every student the audit."""
    note_profile(student)
    faces, others = classifier_logits(student)
    note(audit_text("standard_classifier", faces, others))
    attach_chart("standard_classifier", faces, LIMITS.audit_line)


@dataclass(frozen=True)
class Edition:
    """The names of one edition's VAE: the SS-VAE (2023) or the DB-VAE (2022, 2024, 2025)."""

    label: str  # "SS-VAE"
    step: str  # the training step, "ss_vae_train_step"
    loss: str  # the loss function, "ss_vae_loss_function"
    model: str  # the trained model, "ss_vae"
    levels: int  # accuracy steps
    low: float  # accuracy for the first step
    high: float  # ... for every step
    recon_error: float  # mean absolute reconstruction error of hidden faces, at most


SS = Edition("SS-VAE", "ss_vae_train_step", "ss_vae_loss_function", "ss_vae", SS_VAE_LEVELS,
             LIMITS.ss_vae_pass, LIMITS.ss_vae_full, LIMITS.recon_error)
DB = Edition("DB-VAE", "debiasing_train_step", "debiasing_loss_function", "dbvae", DB_VAE_LEVELS,
             LIMITS.db_vae_pass, LIMITS.db_vae_full, LIMITS.db_vae_recon_error)


def train_step_applies_the_loss_gradients(student, rng, edition: Edition) -> None:
    images = noise_images(rng, 8)
    labels = rng.permutation(np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=np.float32))
    got = student.probe(edition.step, images, labels, SS_VAE_LATENT, seed=0)
    applied, expected = got["applied"], got["expected"]
    what = (f"{edition.step} on a fresh {edition.label.replace('-', '_')} and a batch of 4 faces "
            "and 4 non-faces")
    assert got["calls"] >= 1 and any(g is not None for g in applied), (
        f"{what} applied no gradients to the model's variables")
    missing = sum(1 for a, e in zip(applied, expected, strict=True) if a is None and e is not None)
    assert not missing, (
        f"{what} applied gradients to {len(applied) - missing} of the {edition.label}'s "
        f"{len(applied)} variables: take the gradient of the total loss (the first value "
        f"{edition.loss} returns), which reaches the encoder and the decoder, with respect to "
        f"{edition.model}.trainable_variables")
    for a, e in zip(applied, expected, strict=True):
        if e is None:
            continue
        scale = float(np.max(np.abs(e))) or 1.0
        # The same computation on the same model and sample: equal but for float rounding
        # (a KL term of mu and logsigma swapped moves the gradients by 1e-3 of their scale).
        assert np.shape(a) == np.shape(e) and np.allclose(a, e, rtol=1e-5, atol=1e-5 * scale), (
            f"{what}: the gradients it applies are not those of the total loss of "
            f"{edition.loss}(x, x_recon, y, y_logit, z_mean, z_logsigma), with the "
            f"model's outputs in that order, with respect to {edition.model}.trainable_variables")


def trained_accuracy(student, level: int, edition: Edition) -> None:
    faces, others, errors = ss_vae_outputs(student, edition.model)
    report = audit_text(edition.model, faces, others, {"recon error": errors})
    if level == edition.levels - 1:  # once: what was capped, for every student
        note_profile(student)
    graded_level(edition.model, accuracy(faces, others), level, edition.levels, edition.low,
                 edition.high, "" if level else report)


def trained_reconstruction(student, edition: Edition) -> None:
    _, _, errors = ss_vae_outputs(student, edition.model)
    error = float(errors.mean())
    name = edition.model
    note(f"{name}'s mean absolute reconstruction error on {len(errors)} hidden faces: {error:.4f}")
    assert np.isfinite(error) and error <= edition.recon_error, (
        f"{name} reconstructs the hidden faces with a mean absolute pixel error of {error:.4f} "
        f"(pixels in [0, 1]); it needs at most {edition.recon_error}: the training step should "
        f"take the gradient of the total {edition.label} loss with respect to "
        f"{name}.trainable_variables")


def trained_audit(student, edition: Edition) -> None:
    faces, others, errors = ss_vae_outputs(student, edition.model)
    note(audit_text(edition.model, faces, others, {"recon error": errors}))
    attach_chart(edition.model, faces, LIMITS.audit_line)


@check("ss_vae_trained", points=1)
def test_ss_vae_train_step(student, rng):
    """ss_vae_train_step applies the gradients of ss_vae_loss_function's total loss"""
    train_step_applies_the_loss_gradients(student, rng, SS)


@check("ss_vae_trained", points=SS_VAE_LEVELS)
@pytest.mark.parametrize("level", range(SS_VAE_LEVELS),
                         ids=[f"{k + 1}-of-{SS_VAE_LEVELS}" for k in range(SS_VAE_LEVELS)])
def test_ss_vae_accuracy(student, level):
    """ss_vae's face classification on the hidden test set reaches this step"""
    trained_accuracy(student, level, SS)


@check("ss_vae_trained", points=1)
def test_ss_vae_reconstruction(student):
    """ss_vae reconstructs hidden faces: mean absolute error of decode(z_mean) below the threshold"""
    trained_reconstruction(student, SS)


@check("ss_vae_trained", points=0)
def test_ss_vae_audit(student):
    """ss_vae: bias audit on hidden faces (reported)

    Worth 0 points: the 2023 lab shows the bias and does not ask to reduce it."""
    trained_audit(student, SS)


@check("db_vae_trained", points=1)
def test_debiasing_train_step(student, rng):
    """debiasing_train_step applies the gradients of debiasing_loss_function's total loss"""
    train_step_applies_the_loss_gradients(student, rng, DB)


@check("db_vae_trained", points=DB_VAE_LEVELS)
@pytest.mark.parametrize("level", range(DB_VAE_LEVELS),
                         ids=[f"{k + 1}-of-{DB_VAE_LEVELS}" for k in range(DB_VAE_LEVELS)])
def test_dbvae_accuracy(student, level):
    """dbvae's face classification on the hidden test set reaches this step"""
    trained_accuracy(student, level, DB)


@check("db_vae_trained", points=1)
def test_dbvae_reconstruction(student):
    """dbvae reconstructs hidden faces: mean absolute error of decode(z_mean) below the threshold"""
    trained_reconstruction(student, DB)


@check("db_vae_trained", points=0)
def test_dbvae_audit(student):
    """dbvae: bias audit on hidden faces (reported)

    Worth 0 points: whether resampling reduced the bias depends on the data and on training
    far longer than grading allows, so no point depends on it."""
    trained_audit(student, DB)


# --- the audit as a picture (used outside grading: benchmarks/facial_detection_time.py) ----

def attach_chart(model: str, face_logits: np.ndarray, line: float) -> None:
    """The audit as a bar chart PNG beside results.json: detection rate per group, with a red
    line at ``line`` to compare them with (not a threshold: no point depends on the audit)."""
    if HAS_GROUPS:
        rates = [rate for _, _, rate in group_rates(face_logits)]
        attach(f"bias-audit-{model}.png", FACES.png_bytes(audit_chart([rates], [line])))
        note(f"bar chart: bias-audit-{model}.png (groups left to right: "
             f"{', '.join(name for name, _, _ in group_rates(face_logits))}; red line: a "
             f"detection rate of {line:.2f}, for comparison)")


def audit_chart(panels: list[list[float]], floors: list[float], height: int = 160) -> np.ndarray:
    """A bar chart of per-group detection rates as an (h, w, 3) uint8 RGB array, numpy only.

    One panel per model (left to right: standard_classifier, ss_vae), four bars per panel in
    the order of ``FACES.GROUPS`` (light/short, light/long, dark/short, dark/long; light tones
    pale, dark tones deep, long hair hatched), a grey line at each 10%, a red line at the
    panel's comparison line. No text: the table in the feedback carries the figures."""
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
