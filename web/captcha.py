"""The portal's CAPTCHA, without any outside service: a small sum to work out, kept on the server.

* **The answer lives on the server** (table `captcha_challenges`, as an HMAC under the instance key); the
  visitor's cookie holds only the challenge's random id. The first answer deletes the row, right or
  wrong (`DELETE … RETURNING`, so two submissions racing with one challenge cannot both use it): one
  guess per challenge, single use, and 10 minutes to answer. Each new picture replaces the visitor's
  previous challenge, and an address may fetch at most CHALLENGES_PER_HOUR of them.
* **The picture cannot be read from its markup.** Each character is a hand-drawn stroke shape (not
  seven segments), smoothed into Bézier curves, given its own random rotation, slant, size and jitter,
  cut into pieces; the pieces of every character and a set of decoy strokes of the same width and colour
  are shuffled into one `<path>`. Nothing in the SVG says which stroke belongs to which character, or is
  a character at all; a reader must recognise shapes as a person does. (The previous seven-segment
  `<line>` drawing was solved from its coordinates by a 30-line script, 263 of 300: issue 17 item 5.)
* **An accessible alternative**: people who cannot see the picture (screen readers) choose "文字题" and get
  the same kind of sum written out in Chinese words (`十二加七等于几？`). It is a weaker test against a
  script written for it, by design — a text question a screen reader can read, a script can read too —
  so it rests on the same single use and expiry and on the portal's per-address limits (20 submissions
  an hour); no audio, because an audio CAPTCHA needs a speech engine we do not ship and is itself
  hard to use. docs/security.md records the choice.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import random
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tracker.intake.models import CaptchaChallenge

TTL = timedelta(minutes=10)
SESSION_KEY = "portal_captcha"  # the current challenge's id in the visitor's cookie — never its answer
CHALLENGES_PER_HOUR = 120

# Strokes of each character on a 10 × 16 cell (y downwards), as a person would write them.
_GLYPHS: dict[str, list[list[tuple[float, float]]]] = {
    "0": [[(5, 1), (8.5, 3), (9, 8), (8.5, 13), (5, 15), (1.5, 13), (1, 8), (1.5, 3), (5, 1)]],
    "1": [[(2.5, 4), (5.5, 1), (5.5, 15)]],
    "2": [[(1.5, 4), (3, 1.5), (6, 1), (8.5, 3), (8, 6.5), (1, 15), (9, 15)]],
    "3": [
        [(1.5, 2.5), (5, 1), (8.5, 3), (7.5, 6.5), (4, 8)],
        [(4, 8), (8, 9.5), (8.8, 12.5), (5, 15), (1.2, 13.5)],
    ],
    "4": [[(7, 15), (7, 1), (1, 10.5), (9.5, 10.5)]],
    "5": [[(8.5, 1), (2, 1), (1.5, 7), (5, 6), (8.5, 8), (8.8, 12), (5.5, 15), (1.2, 13.5)]],
    "6": [[(8, 2), (5, 1), (2, 4), (1, 9), (2, 14), (5, 15), (8.5, 13), (8.5, 10), (5, 8), (1.5, 10)]],
    "7": [[(1, 1), (9, 1), (4, 15)]],
    "8": [
        [(5, 8), (1.8, 5), (2.5, 1.8), (5, 1), (7.5, 1.8), (8.2, 5), (5, 8)],
        [(5, 8), (1.2, 11.5), (2.5, 14.5), (5, 15), (7.5, 14.5), (8.8, 11.5), (5, 8)],
    ],
    "9": [[(8.5, 6), (5, 8.5), (1.5, 6), (2, 2), (5, 1), (8.5, 3), (8.5, 9), (7, 14), (4, 15), (1.5, 13.5)]],
    "+": [[(1, 8), (9, 8)], [(5, 4), (5, 12)]],
    "-": [[(1, 8), (9, 8)]],
    "=": [[(1, 6), (9, 6)], [(1, 10), (9, 10)]],
    "?": [[(1.5, 4), (3, 1.5), (6, 1), (8.5, 3), (8, 6), (5, 8.5), (5, 11)], [(5, 13.6), (5.3, 15)]],
}
_CHINESE_DIGITS = "零一二三四五六七八九"
_INK = "#1d3557"


def new_question(rng: random.Random | None = None) -> tuple[str, int]:
    rng = rng or random.SystemRandom()
    a, b = rng.randint(2, 19), rng.randint(2, 9)
    if rng.random() < 0.5:
        return f"{a}+{b}=?", a + b
    a, b = max(a, b), min(a, b)
    return f"{a}-{b}=?", a - b


def _chinese_number(n: int) -> str:
    if n < 10:
        return _CHINESE_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("十" if tens == 1 else _CHINESE_DIGITS[tens] + "十") + (_CHINESE_DIGITS[ones] if ones else "")


def in_words(question: str) -> str:
    """`12+7=?` → `十二加七等于几？` — the accessible alternative, for a screen reader."""
    operator = "+" if "+" in question else "-"
    left, right = question.rstrip("=?").split(operator)
    word = "加" if operator == "+" else "减"
    return f"{_chinese_number(int(left))}{word}{_chinese_number(int(right))}等于几？"


# --- drawing ---------------------------------------------------------------------------------------------


def _bezier_pieces(points: list[tuple[float, float]]) -> list[tuple[tuple[float, float], ...]]:
    """Catmull-Rom through the points as cubic Bézier segments (start, control, control, end)."""
    padded = [points[0], *points, points[-1]]
    segments = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        c1 = (p1[0] + (p2[0] - p0[0]) / 6, p1[1] + (p2[1] - p0[1]) / 6)
        c2 = (p2[0] - (p3[0] - p1[0]) / 6, p2[1] - (p3[1] - p1[1]) / 6)
        segments.append((p1, c1, c2, p2))
    return segments


def _subpaths(segments, rng: random.Random) -> list[str]:
    """The segments of one stroke as one or more subpaths, cut at random joints."""
    pieces, current = [], []
    for segment in segments:
        current.append(segment)
        if len(current) >= 2 and rng.random() < 0.3:
            pieces.append(current)
            current = []
    if current:
        pieces.append(current)
    out = []
    for piece in pieces:
        (sx, sy) = piece[0][0]
        commands = [f"M{sx:.1f} {sy:.1f}"]
        for _, c1, c2, end in piece:
            commands.append(f"C{c1[0]:.1f} {c1[1]:.1f} {c2[0]:.1f} {c2[1]:.1f} {end[0]:.1f} {end[1]:.1f}")
        out.append("".join(commands))
    return out


def _placed(char: str, origin_x: float, rng: random.Random) -> list[list[tuple[float, float]]]:
    """The character's strokes in canvas coordinates: its own rotation, slant, size, and jitter."""
    angle, slant = rng.uniform(-0.28, 0.28), rng.uniform(-0.3, 0.3)
    sx, sy = 2.2 * rng.uniform(0.85, 1.15), 2.3 * rng.uniform(0.88, 1.08)
    oy = 30 + rng.uniform(-5, 5)
    cos, sin = math.cos(angle), math.sin(angle)
    strokes = []
    for stroke in _GLYPHS[char]:
        placed = []
        for x, y in stroke:
            x, y = x - 5 + rng.uniform(-0.45, 0.45), y - 8 + rng.uniform(-0.45, 0.45)
            x, y = (x + slant * y) * sx, y * sy
            placed.append((origin_x + x * cos - y * sin, oy + x * sin + y * cos))
        strokes.append(placed)
    return strokes


def _decoys(width: float, height: float, rng: random.Random) -> list[list[tuple[float, float]]]:
    """Strokes that belong to no character: small curls among the characters and one long wave."""
    strokes = []
    for _ in range(rng.randint(4, 6)):
        x, y = rng.uniform(4, width - 4), rng.uniform(6, height - 6)
        stroke = [(x, y)]
        for _ in range(rng.randint(2, 3)):
            x, y = x + rng.uniform(-6, 6), y + rng.uniform(-6, 6)
            stroke.append((x, y))
        strokes.append(stroke)
    y0, amplitude, phase = rng.uniform(18, height - 18), rng.uniform(3, 8), rng.uniform(0, 6.3)
    strokes.append([(x, y0 + amplitude * math.sin(phase + x / 17)) for x in range(0, int(width) + 1, 14)])
    return strokes


def render_svg(question: str, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    width, height = 26 * len(question) + 20, 60
    strokes = []
    x = 20.0
    for char in question:
        strokes.extend(_placed(char, x, rng))
        x += rng.uniform(23, 29)
    strokes.extend(_decoys(width, height, rng))
    subpaths = [sub for stroke in strokes for sub in _subpaths(_bezier_pieces(stroke), rng)]
    rng.shuffle(subpaths)
    # Two pens, chosen at random per piece: the width says nothing about what a piece is.
    pens = {2.2: [], 2.8: []}
    for sub in subpaths:
        pens[rng.choice((2.2, 2.8))].append(sub)
    paths = "".join(
        f'<path d="{"".join(d)}" fill="none" stroke="{_INK}" stroke-width="{w}" '
        'stroke-linecap="round" stroke-linejoin="round"/>'
        for w, d in pens.items()
        if d
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="算式验证码">'
        f'<rect width="100%" height="100%" fill="#f1f5f9"/>{paths}</svg>'
    )


# --- challenges ------------------------------------------------------------------------------------------


def _digest(secret_key: str, challenge_id: str, answer: int) -> str:
    message = f"captcha:{challenge_id}:{answer}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def issue(
    session: Session, secret_key: str, *, now: datetime, replaces: str | None = None
) -> tuple[str, str]:
    """Store a new challenge (dropping the visitor's previous one and any expired ones) and return its
    id and question. The caller commits."""
    session.execute(
        delete(CaptchaChallenge).where(
            (CaptchaChallenge.expires_at < now) | (CaptchaChallenge.id == (replaces or ""))
        )
    )
    question, answer = new_question()
    challenge_id = secrets.token_urlsafe(24)
    session.add(
        CaptchaChallenge(
            id=challenge_id, answer_digest=_digest(secret_key, challenge_id, answer), expires_at=now + TTL
        )
    )
    session.flush()
    return challenge_id, question


def check(
    session: Session, secret_key: str, challenge_id: str | None, answer: str | None, *, now: datetime
) -> bool:
    """True when `answer` solves the challenge. The challenge is used up either way. The caller commits."""
    if not challenge_id or len(challenge_id) > 64:
        return False
    row = session.execute(
        delete(CaptchaChallenge)
        .where(CaptchaChallenge.id == challenge_id)
        .returning(CaptchaChallenge.answer_digest, CaptchaChallenge.expires_at)
    ).first()
    if row is None or row.expires_at < now:
        return False
    given = (answer or "").strip()
    if not (given.isascii() and given.lstrip("-").isdigit()) or len(given) > 4:
        return False
    return hmac.compare_digest(row.answer_digest, _digest(secret_key, challenge_id, int(given)))
