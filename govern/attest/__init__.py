"""Signed evidence: keys, the in-toto statement of an audit, and DSSE envelopes.

Nothing here talks to MLflow: an attestation is made from a result and verified from files, so
a reviewer can check one offline with nothing but the public key.
"""
