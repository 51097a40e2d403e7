"""Blending a warped face into another picture so that it does not look pasted: the template's lighting (colour,
then its large-scale shading), its blur and its grain, and a Poisson (seamless) clone whose edge takes the
template's own pixels."""
import cv2
import numpy as np

MAX_CORRECTION = 45.0  # the most the seamless clone may move a pixel of the face (0-255 levels)
EDGE_DEPTH = 0.15  # how far into the face (face heights) the clone's correction fades out
GRAIN_SEED = 20240522  # the grain added is fixed noise: the same inputs give the same sticker (and cache key)


def blend_face(warped, backdrop, mask, strength=1.0):
    """`warped` (RGB, already on `backdrop`'s face) blended into the RGB `backdrop` over the soft `mask` (0-1).

    Returns float RGB. `strength` scales how much of the face replaces the backdrop's."""
    inside = mask > 0.5
    if inside.sum() < 50:
        return backdrop * (1 - mask[..., None] * strength) + warped * mask[..., None] * strength
    face_height = _region_height(inside)
    warped = transfer_colour(warped, backdrop, inside, inside)
    warped = transfer_shading(warped, backdrop, mask, sigma=0.18 * face_height)
    warped = match_blur(warped, backdrop, inside)  # after the colour: a stretched contrast sharpens
    # The clone's correction (a smooth membrane from the edge's differences) is kept near the edge and limited:
    # where the edge crosses the template's hair, a cap or a collar's shadow, an unlimited one floods the face
    # with their colour, and the face's middle keeps the light matched above. The soft mask hides what is left.
    correction = seamless_clone(warped, backdrop, inside).astype(np.float32) - warped
    depth = cv2.distanceTransform(inside.astype(np.uint8), cv2.DIST_L2, 5)
    near_edge = np.clip(1.0 - depth / (EDGE_DEPTH * face_height), 0.0, 1.0)[..., None]
    face = warped + np.clip(correction, -MAX_CORRECTION, MAX_CORRECTION) * near_edge
    soft = mask[..., None] * strength
    out = backdrop.astype(np.float32) * (1 - soft) + face * soft
    return add_grain(out, backdrop, warped, inside, soft)


def _region_height(inside):
    rows = np.nonzero(inside.any(axis=1))[0]
    return float(rows[-1] - rows[0] + 1) if len(rows) else 1.0


def transfer_colour(source_rgb, target_rgb, source_mask, target_mask):
    """Match the mean and spread of each LAB channel of the source face to the target face."""
    source_lab = cv2.cvtColor(source_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    target_lab = cv2.cvtColor(target_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    s, t = source_mask > 0.5, target_mask > 0.5
    if s.sum() < 20 or t.sum() < 20:
        return source_rgb
    out = source_lab.copy()
    for channel in range(3):
        s_mean, s_std = source_lab[..., channel][s].mean(), source_lab[..., channel][s].std() + 1e-3
        t_mean, t_std = target_lab[..., channel][t].mean(), target_lab[..., channel][t].std() + 1e-3
        ratio = np.clip(t_std / s_std, 0.6, 1.6)
        out[..., channel] = (source_lab[..., channel] - s_mean) * ratio + t_mean
    return cv2.cvtColor(out.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _masked_blur(values, weight, sigma):
    """A Gaussian blur of `values` that counts only the pixels where `weight` is set (normalized convolution)."""
    num = cv2.GaussianBlur(values * weight, (0, 0), sigma)
    den = cv2.GaussianBlur(weight, (0, 0), sigma)
    return num / np.maximum(den, 1e-3)


def transfer_shading(source_rgb, target_rgb, mask, sigma):
    """The template's light on the face: the large-scale lightness of the target face (one side in shadow, a lit
    forehead) replaces the source's, features (smaller than `sigma`) kept."""
    weight = (mask > 0.5).astype(np.float32)
    source_lab = cv2.cvtColor(source_rgb, cv2.COLOR_RGB2LAB).astype(np.float32)
    target_light = cv2.cvtColor(target_rgb, cv2.COLOR_RGB2LAB)[..., 0].astype(np.float32)
    shift = _masked_blur(target_light, weight, sigma) - _masked_blur(source_lab[..., 0], weight, sigma)
    source_lab[..., 0] += np.clip(shift, -40, 40) * weight
    return cv2.cvtColor(source_lab.clip(0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def _detail(grey, inside):
    """The fine detail of a grey image inside a region: the spread of its difference from a slightly blurred copy."""
    band = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
    return float(band[inside].std())


def match_blur(source_rgb, target_rgb, inside):
    """Soften the source face until its fine detail is no crisper than the template's (a sharp face on a soft photo
    is the first thing that gives a paste away). Never sharpens."""
    target = _detail(cv2.cvtColor(target_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), inside)
    grey = cv2.cvtColor(source_rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    if _detail(grey, inside) <= target * 1.1:
        return source_rgb
    best = source_rgb
    for sigma in (0.5, 0.75, 1.0, 1.3, 1.7, 2.2):
        best = cv2.GaussianBlur(source_rgb, (0, 0), sigma)
        if _detail(cv2.cvtColor(best, cv2.COLOR_RGB2GRAY).astype(np.float32), inside) <= target * 1.1:
            break
    return best


def noise_level(rgb, inside):
    """The standard deviation of the image's grain inside a region (Immerkaer's estimator: a Laplacian-difference
    kernel that cancels smooth shading and most edges)."""
    grey = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(grey, -1, kernel))
    core = cv2.erode(inside.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if core.sum() < 50:
        return 0.0
    # the median is robust to the face's own edges (eyes, glasses) that a mean would count as grain
    return float(np.sqrt(np.pi / 2) / 6 * np.median(response[core]) * 1.25)


def add_grain(out, backdrop, warped, inside, soft):
    """Add the grain the template has and the (smoothed, resampled) face lacks, weighted by `soft`."""
    wanted, has = noise_level(backdrop, inside), noise_level(warped, inside)
    missing = np.sqrt(max(wanted**2 - has**2, 0.0))
    if missing < 0.5:
        return out
    rng = np.random.default_rng(GRAIN_SEED)
    grain = rng.normal(0.0, 1.0, out.shape[:2]).astype(np.float32)
    grain = cv2.GaussianBlur(grain, (0, 0), 0.5)
    grain *= missing / max(float(grain.std()), 1e-6)
    return out + grain[..., None] * soft


def seamless_clone(source_rgb, target_rgb, inside):
    """Poisson-blend the source into the target over the region `inside`: the face keeps its gradients, and its
    edge takes the template's own colours, so no seam is left where the two meet."""
    region = inside.astype(np.uint8) * 255
    region[:2], region[-2:], region[:, :2], region[:, -2:] = 0, 0, 0, 0  # OpenCV needs a border around it
    ys, xs = np.nonzero(region)
    if len(xs) < 50:
        return target_rgb
    # OpenCV places the source's region box centred on `centre`; this centre puts it back where it was
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int(x0 + (x1 - x0) // 2), int(y0 + (y1 - y0) // 2))
    source = np.ascontiguousarray(np.clip(source_rgb, 0, 255).astype(np.uint8))
    target = np.ascontiguousarray(np.clip(target_rgb, 0, 255).astype(np.uint8))
    return cv2.seamlessClone(source, target, region, centre, cv2.NORMAL_CLONE)
