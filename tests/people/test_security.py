from tracker.security import (
    decrypt_secret,
    encrypt_secret,
    hash_password,
    mask_email,
    mask_name,
    mask_phone,
    verify_password,
)


def test_password_hash_is_argon2_and_verifies():
    h = hash_password("correct-horse")
    assert h.startswith("$argon2")
    assert verify_password(h, "correct-horse")
    assert not verify_password(h, "wrong")
    assert not verify_password("not-a-hash", "x")


def test_masks():
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("李建国") == "李**"
    assert mask_email("lijianguo@example.com") == "l***@example.com"
    assert mask_phone(None) == ""


def test_secret_round_trip_and_key_binding():
    token = encrypt_secret("k1", "s3cret")
    assert "s3cret" not in token
    assert decrypt_secret("k1", token) == "s3cret"
