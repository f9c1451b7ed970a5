"""Personal data encrypted at rest (issue 21 item 2): the keys (`keys`), the cipher and blind index
(`cipher`), and the column type every writer goes through (`cipher.EncryptedText`).

docs/security.md says what is encrypted, with which algorithm, and how keys are managed and rotated.
"""
