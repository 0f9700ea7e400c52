-- Who made an API token on the admin page (NULL: the command line, or made before this was kept):
-- a token started real event may not be approved by the admin who made the token.
ALTER TABLE api_tokens ADD COLUMN created_by bigint;  -- as campaigns.started_by_staff: no foreign key, staff may be removed
