"""Find a form in a photo or scan, warp it back onto the layout's page (zxing-cpp, scikit-image).

The QR code gives the form id and, from its four corners, a first homography page -> photo. That
estimate is poor far from the code, so each corner mark is searched in a window around where it
predicts the mark, and the final homography is fitted to the marks found (plus the QR corners when
a mark is hidden or torn off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage import filters, measure, transform

from textrec_cli.errors import InputError
from textrec_cli.forms import layout
from textrec_cli.forms.make import qr_symbol_box

PAPER = 255.0


@dataclass
class Located:
    payload: str
    page: np.ndarray  # gray float32 (PAGE_H, PAGE_W): the form as printed, 255 = paper
    marks_found: int


def find_qr(gray: np.ndarray) -> tuple[str, np.ndarray]:
    """(payload, corners tl, tr, br, bl in photo pixels) of the first textrec QR code."""
    import zxingcpp

    image = np.clip(gray, 0, 255).astype(np.uint8)
    found = []
    for scale in (1, 2, 4):  # big phone photos: zxing finds small codes better downscaled
        view = image[::scale, ::scale] if scale > 1 else image
        if min(view.shape) < 64:
            break
        found = [
            (b, scale)
            for b in zxingcpp.read_barcodes(view, formats=zxingcpp.BarcodeFormat.QRCode)
            if b.valid
        ]
        if found:
            break
    if not found:
        raise InputError("no form id found (no readable QR code; is the whole form in the photo?)")
    ours = [(b, s) for b, s in found if b.text.startswith(layout.ID_SCHEME + "/")]
    barcode, scale = (ours or found)[0]
    pos = barcode.position
    corners = [pos.top_left, pos.top_right, pos.bottom_right, pos.bottom_left]
    return barcode.text, np.array([[p.x, p.y] for p in corners], dtype=np.float64) * scale


def _homography(src: np.ndarray, dst: np.ndarray) -> transform.ProjectiveTransform:
    model = transform.estimate_transform("projective", src, dst)
    if not np.all(np.isfinite(model.params)):
        raise InputError("the form's corners could not be located (photo too distorted?)")
    return model


def _find_mark(
    gray: np.ndarray,
    to_photo: transform.ProjectiveTransform,
    center: tuple[int, int],
    known: np.ndarray,
) -> np.ndarray | None:
    """The photo position of one corner mark near its predicted place, or None.

    The search window grows with the distance from the points the estimate rests on (`known`,
    photo pixels): a homography fitted on a small QR code drifts far from it."""
    half = layout.MARK / 2
    cx, cy = center
    square = np.array(
        [
            [cx - half, cy - half],
            [cx + half, cy - half],
            [cx + half, cy + half],
            [cx - half, cy + half],
        ]
    )
    seen = to_photo(square)
    expected_area = abs(_shoelace(seen))
    guess = seen.mean(axis=0)
    reach = float(np.min(np.hypot(*(known - guess).T)))
    radius = int(2.5 * np.sqrt(expected_area) + 0.1 * reach) + 4
    x0, y0 = int(max(guess[0] - radius, 0)), int(max(guess[1] - radius, 0))
    x1, y1 = int(min(guess[0] + radius, gray.shape[1])), int(min(guess[1] + radius, gray.shape[0]))
    window = gray[y0:y1, x0:x1]
    if window.size < 16 or np.ptp(window) < 30:
        return None
    dark = window < filters.threshold_otsu(window)
    best, best_distance = None, np.inf
    for region in measure.regionprops(measure.label(dark)):
        top, left, bottom, right = region.bbox
        if top == 0 or left == 0 or bottom == dark.shape[0] or right == dark.shape[1]:
            continue  # runs off the window: the table, a shadow, the page edge
        if not 0.4 * expected_area <= region.area <= 2.0 * expected_area:
            continue
        if region.solidity < 0.85:
            continue
        cy_, cx_ = region.centroid
        distance = np.hypot(cx_ + x0 - guess[0], cy_ + y0 - guess[1])
        if distance < best_distance:
            best, best_distance = np.array([cx_ + x0, cy_ + y0]), distance
    return best


def _shoelace(points: np.ndarray) -> float:
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def locate(gray: np.ndarray) -> Located:
    """The form in `gray` (any pose), warped onto the layout's page."""
    payload, qr_corners = find_qr(gray)
    layout.FormId.parse(payload)  # not ours: say so before measuring anything
    left, top, right, bottom = qr_symbol_box(payload)
    qr_page = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], float)
    page_points, photo_points = list(qr_page), list(qr_corners)
    estimate = _homography(qr_page, qr_corners)
    qr_center = qr_page.mean(axis=0)
    marks = 0
    # nearest the QR code first; each mark found steadies the estimate for the next, farther one
    for center in sorted(layout.MARK_CENTERS, key=lambda c: np.hypot(*(c - qr_center))):
        found = _find_mark(gray, estimate, center, np.array(photo_points))
        if found is not None:
            page_points.append(center)
            photo_points.append(found)
            marks += 1
            estimate = _homography(np.array(page_points, float), np.array(photo_points, float))
    if marks == 4:  # the marks span the page: fit on them alone (the QR corners are coarser)
        page_points, photo_points = page_points[4:], photo_points[4:]
    # mark centres are pixel-centre coordinates; the QR corners are pixel edges (off by 0.5)
    fine = _homography(np.array(page_points, float), np.array(photo_points, float))
    page = transform.warp(
        gray.astype(np.float32),
        fine,
        output_shape=(layout.PAGE_H, layout.PAGE_W),
        order=1,
        cval=PAPER,
        preserve_range=True,
    )
    return Located(payload, page.astype(np.float32), marks)
