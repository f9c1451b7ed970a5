"""Complete the second factor at sign-in the way an administrator does, for tests about other things.

tests/security/test_totp.py tests the second factor itself; elsewhere an administrator's password sign-in
is followed by enrolment (first time) or a code (after), read off the enrolment page as an app would.
"""

from __future__ import annotations

import re
import time

import pyotp

_SECRETS: dict[tuple[int, str], str] = {}


def complete_second_factor(client, response, username: str):
    """Follow `response` (the password POST's) through enrolment or a code; return the final response."""
    location = response.headers.get("Location", "")
    key = (id(client.application), username)
    clock = client.application.config.get("CLOCK")  # the web layer's clock, when a test pins it
    moment = clock().timestamp() if clock else time.time()
    if location.endswith("/login/enrol"):
        page = client.get("/login/enrol").get_data(as_text=True)
        secret = re.search(r'class="totp-secret">([A-Z2-7]+)<', page).group(1)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        _SECRETS[key] = secret
        return client.post("/login/enrol", data={"csrf_token": token, "code": pyotp.TOTP(secret).at(moment)})
    if location.endswith("/login/verify"):
        page = client.get("/login/verify").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        # The current step's code was used by the last sign-in; the next one is within the allowed drift.
        code = pyotp.TOTP(_SECRETS[key]).at(moment + 30)
        return client.post("/login/verify", data={"csrf_token": token, "code": code})
    return response
