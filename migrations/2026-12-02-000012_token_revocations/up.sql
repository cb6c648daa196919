-- Revoking tokens before they expire: a token whose subject has a row here and whose `iat` is
-- before `not_before` is refused. An ADMIN moves the instant (revokeTokens); the server reads it
-- on every authenticated request, by the primary key.
CREATE TABLE token_revocations (
    subject     TEXT        PRIMARY KEY CHECK (char_length(subject) BETWEEN 1 AND 200),
    not_before  TIMESTAMPTZ NOT NULL,
    revoked_by  TEXT        NOT NULL CHECK (char_length(revoked_by) BETWEEN 1 AND 200),
    revoked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
