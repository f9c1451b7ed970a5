"""A CAPTCHA that needs no outside service: an arithmetic question drawn as SVG strokes (no text nodes a
script could read), the answer kept in the session only as an HMAC."""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
import time

# Seven-segment digits: segments a b c d e f g as (x1, y1, x2, y2) on a 10×18 cell.
_SEGMENTS = {
    "a": (1, 1, 9, 1),
    "b": (9, 1, 9, 9),
    "c": (9, 9, 9, 17),
    "d": (1, 17, 9, 17),
    "e": (1, 9, 1, 17),
    "f": (1, 1, 1, 9),
    "g": (1, 9, 9, 9),
}
_DIGITS = {
    "0": "abcdef",
    "1": "bc",
    "2": "abged",
    "3": "abgcd",
    "4": "fgbc",
    "5": "afgcd",
    "6": "afgedc",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}
_SYMBOLS = {
    "+": [(1, 9, 9, 9), (5, 5, 5, 13)],
    "-": [(1, 9, 9, 9)],
    "=": [(1, 7, 9, 7), (1, 11, 9, 11)],
    "?": [(1, 2, 8, 2), (8, 2, 8, 8), (8, 8, 5, 10), (5, 10, 5, 13), (5, 16, 5, 17)],
}
TTL_SECONDS = 600
SESSION_KEY = "portal_captcha"


def new_question(rng: random.Random | None = None) -> tuple[str, int]:
    rng = rng or random.SystemRandom()
    a, b = rng.randint(2, 19), rng.randint(2, 9)
    if rng.random() < 0.5:
        return f"{a}+{b}=?", a + b
    a, b = max(a, b), min(a, b)
    return f"{a}-{b}=?", a - b


def render_svg(question: str, rng: random.Random | None = None) -> str:
    rng = rng or random.SystemRandom()
    scale, width, height = 2.2, 24 * len(question) + 24, 60
    lines = []
    for i, char in enumerate(question):
        ox = 12 + i * 24 + rng.uniform(-2, 2)
        oy = 10 + rng.uniform(-4, 4)
        strokes = [_SEGMENTS[s] for s in _DIGITS[char]] if char in _DIGITS else _SYMBOLS[char]
        for x1, y1, x2, y2 in strokes:
            j = [rng.uniform(-0.7, 0.7) for _ in range(4)]
            lines.append(
                f'<line x1="{ox + (x1 + j[0]) * scale:.1f}" y1="{oy + (y1 + j[1]) * scale:.1f}" '
                f'x2="{ox + (x2 + j[2]) * scale:.1f}" y2="{oy + (y2 + j[3]) * scale:.1f}" '
                f'stroke="#1d3557" stroke-width="{rng.uniform(2.2, 3.2):.1f}" stroke-linecap="round"/>'
            )
    for _ in range(7):
        lines.append(
            f'<line x1="{rng.uniform(0, width):.0f}" y1="{rng.uniform(0, height):.0f}" '
            f'x2="{rng.uniform(0, width):.0f}" y2="{rng.uniform(0, height):.0f}" '
            f'stroke="#8aa" stroke-width="1"/>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="验证码">'
        f'<rect width="100%" height="100%" fill="#f1f5f9"/>{"".join(lines)}</svg>'
    )


def _digest(secret_key: str, nonce: str, answer: str) -> str:
    return hmac.new(secret_key.encode(), f"captcha:{nonce}:{answer}".encode(), hashlib.sha256).hexdigest()


def issue(session: dict, secret_key: str) -> str:
    """Put a new question in the session and return its SVG."""
    question, answer = new_question()
    nonce = secrets.token_hex(8)
    session[SESSION_KEY] = {"n": nonce, "h": _digest(secret_key, nonce, str(answer)), "t": int(time.time())}
    return render_svg(question)


def check(session: dict, secret_key: str, answer: str | None) -> bool:
    """True when the answer is right; each question can be answered once."""
    state = session.pop(SESSION_KEY, None)
    if not state or not answer or time.time() - state.get("t", 0) > TTL_SECONDS:
        return False
    given = answer.strip()
    if not given.lstrip("-").isdigit():
        return False
    return hmac.compare_digest(state["h"], _digest(secret_key, state["n"], str(int(given))))
