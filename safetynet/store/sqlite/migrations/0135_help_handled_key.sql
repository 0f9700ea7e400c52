-- The message id of the staff text that last marked a help request handled (「対応済み 12」), kept when the
-- request is reopened: a provider's retry of that text (Telegram redelivers unacknowledged updates after a
-- restart) must not mark handled a request reopened since, by a new call for help or a wrong tap's undo.
ALTER TABLE help_requests ADD COLUMN handled_key TEXT;
