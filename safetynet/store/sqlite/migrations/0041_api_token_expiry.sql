-- API tokens can expire, and show when they were last used (`token list`, the admin console).
ALTER TABLE api_tokens ADD COLUMN expires_at REAL;
ALTER TABLE api_tokens ADD COLUMN last_used_at REAL;
