-- A fingerprint of each key the city signs with (an HMAC of a fixed label under the secret key, a hash of the
-- web-push public key), recorded by the first `init` or `serve` (QA: a dispatcher started from another data folder
-- with its own random key served, and every reply link it sent was dead). Never the key itself.
CREATE TABLE key_fingerprints (
    name        TEXT PRIMARY KEY,  -- "secret_key", "vapid_public"
    fingerprint TEXT NOT NULL,
    recorded_at REAL NOT NULL
);
