-- Support staff. A technician is deactivated, never deleted while anything refers to it.
CREATE TABLE technicians (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    email       TEXT        NOT NULL CHECK (char_length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%'),
    team        TEXT        NOT NULL DEFAULT '' CHECK (char_length(team) <= 100),
    active      BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- E-mail addresses are compared case-insensitively.
CREATE UNIQUE INDEX technicians_email_key ON technicians (lower(email));
CREATE INDEX technicians_team_idx ON technicians (team);

-- Customers' contact details are personal data: only staff roles read them.
CREATE TABLE customers (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          TEXT        NOT NULL CHECK (char_length(btrim(name)) BETWEEN 1 AND 200),
    email         TEXT        CHECK (email IS NULL OR (char_length(email) BETWEEN 3 AND 320 AND email LIKE '%_@_%')),
    phone         TEXT        CHECK (phone IS NULL OR char_length(phone) BETWEEN 1 AND 50),
    organization  TEXT        CHECK (organization IS NULL OR char_length(organization) BETWEEN 1 AND 200),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX customers_email_idx ON customers (lower(email));
CREATE INDEX customers_name_idx ON customers (lower(name), id);
