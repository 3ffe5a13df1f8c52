#pragma once
// The PostgreSQL schema, as the same numbered migrations as store/sqlite/migrations.hpp, each
// expressed for PostgreSQL (BIGINT unix seconds, BYTEA, BOOLEAN). Migration i moves
// sigil_schema.version from i to i + 1. Append only, as for SQLite: a migration that shipped is
// never edited. Differences from SQLite, each for several nodes on one database:
// - 2: revocation_seq comes from a one-row counter updated in the revocation's transaction, so
//   revocations commit in sequence order (a poller that saw N never misses N - 1 committing late).
// - 8: spent ACME nonces are rows (every node refuses a replay), beside the nodes' heartbeats.
// - 1: serials collate bytewise ("C", as SQLite's BINARY), so the indexes on serial are in the
//   order list pages and CRL scans read them, whatever the database's default collation.
#include <array>
#include <string_view>

namespace sigil::store::postgres {

inline constexpr std::array<std::string_view, 10> kMigrations{{
    // 1: certificates, their subject alternative names, the append-only audit log.
    R"sql(
CREATE TABLE certificates (
  serial            TEXT   COLLATE "C" NOT NULL,
  issuer_id         TEXT   NOT NULL,
  tbs_der           BYTEA  NOT NULL,
  der               BYTEA,
  subject           TEXT   NOT NULL,
  profile           TEXT   NOT NULL,
  requester         TEXT   NOT NULL,
  not_before        BIGINT NOT NULL,
  not_after         BIGINT NOT NULL,
  created_at        BIGINT NOT NULL,
  status            TEXT   NOT NULL CHECK (status IN ('pending', 'valid', 'revoked')),
  revoked_at        BIGINT,
  revocation_reason INTEGER,
  CHECK ((status = 'pending') = (der IS NULL)),
  CHECK ((status = 'revoked') = (revoked_at IS NOT NULL)),
  CHECK ((status = 'revoked') = (revocation_reason IS NOT NULL))
);
CREATE UNIQUE INDEX certificates_serial ON certificates (serial);
CREATE INDEX certificates_not_after ON certificates (not_after, serial);
CREATE INDEX certificates_status ON certificates (status, not_after, serial);
CREATE INDEX certificates_profile ON certificates (profile, not_after, serial);

CREATE TABLE certificate_sans (
  serial   TEXT    NOT NULL REFERENCES certificates (serial),
  position INTEGER NOT NULL,
  name     TEXT    NOT NULL,
  PRIMARY KEY (serial, position)
);
CREATE INDEX certificate_sans_name ON certificate_sans (name);

CREATE TABLE audit_log (
  id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at      BIGINT NOT NULL,
  actor   TEXT   NOT NULL,
  action  TEXT   NOT NULL,
  target  TEXT   NOT NULL,
  outcome TEXT   NOT NULL,
  detail  TEXT   NOT NULL
);
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
)sql",
    // 2: the revocation sequence, covering indexes for the CRL and OCSP scans, per-issuer CRL
    // numbers and the latest CRL per issuer.
    R"sql(
ALTER TABLE certificates ADD COLUMN revocation_seq BIGINT;
CREATE UNIQUE INDEX certificates_revocation_seq ON certificates (revocation_seq) WHERE revocation_seq IS NOT NULL;
CREATE INDEX certificates_revoked ON certificates (issuer_id, serial, not_after, revoked_at, revocation_reason)
  WHERE status = 'revoked';
CREATE INDEX certificates_live ON certificates (issuer_id, not_after, serial, status, revoked_at, revocation_reason)
  WHERE status <> 'pending';
CREATE TABLE revocation_counter (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  last BIGINT  NOT NULL
);
INSERT INTO revocation_counter (id, last) VALUES (1, 0);
CREATE TABLE crl_numbers (
  issuer_id   TEXT   PRIMARY KEY,
  last_number BIGINT NOT NULL
);
CREATE TABLE crl_state (
  issuer_id   TEXT   PRIMARY KEY,
  number      BIGINT NOT NULL,
  this_update BIGINT NOT NULL,
  next_update BIGINT NOT NULL,
  der         BYTEA  NOT NULL
);
)sql",
    // 3: ACME state: EAB keys, accounts, orders, authorizations and their challenges, rate
    // counters. An empty eab_kid or replaces is stored as NULL.
    R"sql(
CREATE TABLE acme_accounts (
  id           TEXT    PRIMARY KEY,
  thumbprint   TEXT    NOT NULL,
  jwk          TEXT    NOT NULL,
  status       TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  terms_agreed BOOLEAN NOT NULL,
  eab_kid      TEXT,
  created_at   BIGINT  NOT NULL
);
CREATE UNIQUE INDEX acme_accounts_thumbprint ON acme_accounts (thumbprint);
CREATE UNIQUE INDEX acme_accounts_eab_kid ON acme_accounts (eab_kid) WHERE eab_kid IS NOT NULL;

CREATE TABLE acme_eab_keys (
  kid         TEXT   PRIMARY KEY,
  hmac_key    BYTEA  NOT NULL,
  description TEXT   NOT NULL,
  created_at  BIGINT NOT NULL,
  revoked_at  BIGINT,
  account_id  TEXT   REFERENCES acme_accounts (id)
);
CREATE UNIQUE INDEX acme_eab_keys_account ON acme_eab_keys (account_id) WHERE account_id IS NOT NULL;
ALTER TABLE acme_accounts ADD FOREIGN KEY (eab_kid) REFERENCES acme_eab_keys (kid);

CREATE TABLE acme_eab_allowed_identifiers (
  kid      TEXT    NOT NULL REFERENCES acme_eab_keys (kid),
  position INTEGER NOT NULL,
  pattern  TEXT    NOT NULL,
  PRIMARY KEY (kid, position)
);

CREATE TABLE acme_account_contacts (
  account_id TEXT    NOT NULL REFERENCES acme_accounts (id),
  position   INTEGER NOT NULL,
  contact    TEXT    NOT NULL,
  PRIMARY KEY (account_id, position)
);

CREATE TABLE acme_orders (
  id                 TEXT   PRIMARY KEY,
  account_id         TEXT   NOT NULL REFERENCES acme_accounts (id),
  status             TEXT   NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
  expires            BIGINT NOT NULL,
  not_before         BIGINT,
  not_after          BIGINT,
  profile            TEXT   NOT NULL,
  replaces           TEXT,
  certificate_serial TEXT   NOT NULL,
  error              TEXT   NOT NULL,
  created_at         BIGINT NOT NULL
);
CREATE INDEX acme_orders_replaces ON acme_orders (replaces, created_at) WHERE replaces IS NOT NULL;

CREATE TABLE acme_order_identifiers (
  order_id TEXT    NOT NULL REFERENCES acme_orders (id),
  position INTEGER NOT NULL,
  type     TEXT    NOT NULL,
  value    TEXT    NOT NULL,
  PRIMARY KEY (order_id, position)
);

CREATE TABLE acme_authorizations (
  id               TEXT    PRIMARY KEY,
  account_id       TEXT    NOT NULL REFERENCES acme_accounts (id),
  order_id         TEXT    NOT NULL REFERENCES acme_orders (id),
  identifier_type  TEXT    NOT NULL,
  identifier_value TEXT    NOT NULL,
  wildcard         BOOLEAN NOT NULL,
  status           TEXT    NOT NULL
                   CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
  expires          BIGINT  NOT NULL,
  token            TEXT    NOT NULL
);

CREATE TABLE acme_order_authorizations (
  order_id         TEXT    NOT NULL REFERENCES acme_orders (id),
  position         INTEGER NOT NULL,
  authorization_id TEXT    NOT NULL REFERENCES acme_authorizations (id),
  PRIMARY KEY (order_id, position)
);

CREATE TABLE acme_challenges (
  authorization_id TEXT    NOT NULL REFERENCES acme_authorizations (id),
  position         INTEGER NOT NULL,
  type             TEXT    NOT NULL,
  status           TEXT    NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  validated        BIGINT  NOT NULL,
  error            TEXT    NOT NULL,
  PRIMARY KEY (authorization_id, position)
);

CREATE TABLE acme_rate_counters (
  key          TEXT   NOT NULL,
  window_start BIGINT NOT NULL,
  hits         BIGINT NOT NULL,
  PRIMARY KEY (key, window_start)
);
)sql",
    // 4: CRL shards and delta CRLs: each certificate keeps its CRL shard; CRL numbers are one
    // sequence per issuer and shard; the latest CRL is kept per issuer, shard and kind.
    R"sql(
ALTER TABLE certificates ADD COLUMN crl_shard INTEGER NOT NULL DEFAULT 0 CHECK (crl_shard >= 0);
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked
  ON certificates (issuer_id, crl_shard, serial, not_after, revoked_at, revocation_reason)
  WHERE status = 'revoked';

CREATE TABLE crl_shards (
  issuer_id     TEXT    NOT NULL,
  shard         INTEGER NOT NULL CHECK (shard >= 0),
  not_after_max BIGINT  NOT NULL,
  PRIMARY KEY (issuer_id, shard)
);
INSERT INTO crl_shards (issuer_id, shard, not_after_max)
  SELECT issuer_id, 0, MAX(not_after) FROM certificates GROUP BY issuer_id;

ALTER TABLE crl_numbers RENAME TO crl_numbers_v3;
CREATE TABLE crl_numbers (
  issuer_id   TEXT    NOT NULL,
  shard       INTEGER NOT NULL CHECK (shard >= 0),
  last_number BIGINT  NOT NULL,
  PRIMARY KEY (issuer_id, shard)
);
INSERT INTO crl_numbers (issuer_id, shard, last_number) SELECT issuer_id, 0, last_number FROM crl_numbers_v3;
DROP TABLE crl_numbers_v3;

ALTER TABLE crl_state RENAME TO crl_state_v3;
CREATE TABLE crl_state (
  issuer_id   TEXT    NOT NULL,
  shard       INTEGER NOT NULL CHECK (shard >= 0),
  delta       BOOLEAN NOT NULL,
  number      BIGINT  NOT NULL,
  base_number BIGINT,
  this_update BIGINT  NOT NULL,
  next_update BIGINT  NOT NULL,
  der         BYTEA   NOT NULL,
  CHECK (delta = (base_number IS NOT NULL)),
  PRIMARY KEY (issuer_id, shard, delta)
);
INSERT INTO crl_state (issuer_id, shard, delta, number, base_number, this_update, next_update, der)
  SELECT issuer_id, 0, FALSE, number, NULL, this_update, next_update, der FROM crl_state_v3;
DROP TABLE crl_state_v3;
)sql",
    // 5: certificates flagged for early replacement (an incident).
    R"sql(
CREATE TABLE renewal_flags (
  serial     TEXT   NOT NULL PRIMARY KEY REFERENCES certificates (serial),
  flagged_at BIGINT NOT NULL
);
)sql",
    // 6: ACME lookups by account: its orders, newest first; its valid authorizations for reuse.
    R"sql(
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at, id);
CREATE INDEX acme_authorizations_reusable
  ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, expires)
  WHERE status = 'valid';
)sql",
    // 7: keys revoked for keyCompromise; every issuance refuses them.
    R"sql(
CREATE TABLE blocked_keys (
  key_sha256 TEXT    NOT NULL PRIMARY KEY CHECK (length(key_sha256) = 64),
  reason     INTEGER NOT NULL,
  blocked_at BIGINT  NOT NULL,
  serial     TEXT    NOT NULL REFERENCES certificates (serial)
);
)sql",
    // 8: the serving nodes' heartbeats, and the spent ACME nonces every node checks.
    R"sql(
CREATE TABLE nodes (
  id         TEXT   NOT NULL PRIMARY KEY,
  hostname   TEXT   NOT NULL,
  urls       TEXT   NOT NULL,
  version    TEXT   NOT NULL,
  started_at BIGINT NOT NULL,
  last_seen  BIGINT NOT NULL
);
CREATE TABLE acme_spent_nonces (
  nonce      TEXT   NOT NULL PRIMARY KEY,
  expires_at BIGINT NOT NULL
);
CREATE INDEX acme_spent_nonces_expiry ON acme_spent_nonces (expires_at);
)sql",
    // 9: certificates by issuance time, as on SQLite (where COUNT(*) reads it): an "issued
    // before" range (flag_for_renewal) may use it, and a narrow index-only COUNT(*).
    R"sql(
CREATE INDEX certificates_created_at ON certificates (created_at);
)sql",
    // 10: the audit log by action, outcome and time: the console's issuance and revocation
    // rates count one action's rows of the last hour or day from this index alone.
    R"sql(
CREATE INDEX audit_log_action ON audit_log (action, outcome, at);
)sql",
}};

}  // namespace sigil::store::postgres
