#pragma once
// The SQLite schema, as numbered migrations. Migration i (0-based) moves the database from
// PRAGMA user_version i to i + 1 inside its own transaction. Append only: never edit a migration
// that has shipped, add a new one instead. A database whose user_version is higher than
// kMigrations.size() was written by a newer sigil and is refused.
#include <array>
#include <cstdint>
#include <string_view>

namespace sigil::store::sqlite {

// PRAGMA application_id of a sigil database ("SIGL"), set with each migration's user_version,
// so a foreign SQLite file is refused instead of migrated.
inline constexpr std::int32_t kApplicationId = 0x5349474C;

inline constexpr std::array<std::string_view, 10> kMigrations{{
    // 1: certificates, their subject alternative names, the append-only audit log.
    R"sql(
CREATE TABLE certificates (
  serial            TEXT    NOT NULL,
  issuer_id         TEXT    NOT NULL,
  tbs_der           BLOB    NOT NULL,
  der               BLOB,
  subject           TEXT    NOT NULL,
  profile           TEXT    NOT NULL,
  requester         TEXT    NOT NULL,
  not_before        INTEGER NOT NULL,
  not_after         INTEGER NOT NULL,
  created_at        INTEGER NOT NULL,
  status            TEXT    NOT NULL CHECK (status IN ('pending', 'valid', 'revoked')),
  revoked_at        INTEGER,
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
  id      INTEGER PRIMARY KEY AUTOINCREMENT,
  at      INTEGER NOT NULL,
  actor   TEXT    NOT NULL,
  action  TEXT    NOT NULL,
  target  TEXT    NOT NULL,
  outcome TEXT    NOT NULL,
  detail  TEXT    NOT NULL
);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
)sql",
    // 2: revocation sequence (how servers learn of revocations made by any process), covering
    // indexes for the CRL and OCSP scans (a million rows must stream without row lookups or
    // sorting), per-issuer CRL numbers, and the latest CRL per issuer.
    R"sql(
ALTER TABLE certificates ADD COLUMN revocation_seq INTEGER;
CREATE UNIQUE INDEX certificates_revocation_seq ON certificates (revocation_seq) WHERE revocation_seq IS NOT NULL;
CREATE INDEX certificates_revoked ON certificates (issuer_id, serial, not_after, revoked_at, revocation_reason)
  WHERE status = 'revoked';
CREATE INDEX certificates_live ON certificates (issuer_id, not_after, serial, status, revoked_at, revocation_reason)
  WHERE status <> 'pending';
CREATE TABLE crl_numbers (
  issuer_id   TEXT    PRIMARY KEY,
  last_number INTEGER NOT NULL
);
CREATE TABLE crl_state (
  issuer_id   TEXT    PRIMARY KEY,
  number      INTEGER NOT NULL,
  this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL,
  der         BLOB    NOT NULL
);
)sql",
    // 3: ACME state (store/acme.hpp): EAB keys, accounts, orders, authorizations and their
    // challenges, and rate-limit counters. Lists are child tables keyed by (parent, position),
    // as certificate_sans. An order names its authorizations through acme_order_authorizations
    // (whose key is the authorizations-by-order index), so an order may also name an
    // authorization created for an earlier one. An empty eab_kid or replaces is stored as NULL.
    R"sql(
CREATE TABLE acme_eab_keys (
  kid         TEXT    PRIMARY KEY,
  hmac_key    BLOB    NOT NULL,
  description TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  revoked_at  INTEGER,
  account_id  TEXT    REFERENCES acme_accounts (id)
);
CREATE UNIQUE INDEX acme_eab_keys_account ON acme_eab_keys (account_id) WHERE account_id IS NOT NULL;

CREATE TABLE acme_eab_allowed_identifiers (
  kid      TEXT    NOT NULL REFERENCES acme_eab_keys (kid),
  position INTEGER NOT NULL,
  pattern  TEXT    NOT NULL,
  PRIMARY KEY (kid, position)
);

CREATE TABLE acme_accounts (
  id           TEXT    PRIMARY KEY,
  thumbprint   TEXT    NOT NULL,
  jwk          TEXT    NOT NULL,
  status       TEXT    NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  terms_agreed INTEGER NOT NULL CHECK (terms_agreed IN (0, 1)),
  eab_kid      TEXT    REFERENCES acme_eab_keys (kid),
  created_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX acme_accounts_thumbprint ON acme_accounts (thumbprint);
CREATE UNIQUE INDEX acme_accounts_eab_kid ON acme_accounts (eab_kid) WHERE eab_kid IS NOT NULL;

CREATE TABLE acme_account_contacts (
  account_id TEXT    NOT NULL REFERENCES acme_accounts (id),
  position   INTEGER NOT NULL,
  contact    TEXT    NOT NULL,
  PRIMARY KEY (account_id, position)
);

CREATE TABLE acme_orders (
  id                 TEXT    PRIMARY KEY,
  account_id         TEXT    NOT NULL REFERENCES acme_accounts (id),
  status             TEXT    NOT NULL CHECK (status IN ('pending', 'ready', 'processing', 'valid', 'invalid')),
  expires            INTEGER NOT NULL,
  not_before         INTEGER,
  not_after          INTEGER,
  profile            TEXT    NOT NULL,
  replaces           TEXT,
  certificate_serial TEXT    NOT NULL,
  error              TEXT    NOT NULL,
  created_at         INTEGER NOT NULL
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
  wildcard         INTEGER NOT NULL CHECK (wildcard IN (0, 1)),
  status           TEXT    NOT NULL
                   CHECK (status IN ('pending', 'valid', 'invalid', 'deactivated', 'expired', 'revoked')),
  expires          INTEGER NOT NULL,
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
  validated        INTEGER NOT NULL,
  error            TEXT    NOT NULL,
  PRIMARY KEY (authorization_id, position)
);

CREATE TABLE acme_rate_counters (
  key          TEXT    NOT NULL,
  window_start INTEGER NOT NULL,
  hits         INTEGER NOT NULL,
  PRIMARY KEY (key, window_start)
) WITHOUT ROWID;
)sql",
    // 4: CRL shards (RFC 5280 §5.2.5) and delta CRLs (§5.2.4). Each certificate keeps the CRL shard
    // its CRL distribution point names, fixed at issuance (0: the issuer's single CRL, which every
    // earlier certificate names). The revoked-entries index leads with the shard, so one shard's
    // CRL streams from it alone. crl_shards holds, per issuer and shard, the latest not_after of a
    // certificate naming it: the CRLs that must be published. CRL numbers become one sequence per
    // issuer and shard (a shard's complete and delta CRLs share it), continuing each issuer's old
    // sequence in shard 0; the latest CRL is kept per issuer, shard and kind.
    R"sql(
ALTER TABLE certificates ADD COLUMN crl_shard INTEGER NOT NULL DEFAULT 0 CHECK (crl_shard >= 0);
DROP INDEX certificates_revoked;
CREATE INDEX certificates_revoked
  ON certificates (issuer_id, crl_shard, serial, not_after, revoked_at, revocation_reason)
  WHERE status = 'revoked';

CREATE TABLE crl_shards (
  issuer_id     TEXT    NOT NULL,
  shard         INTEGER NOT NULL CHECK (shard >= 0),
  not_after_max INTEGER NOT NULL,
  PRIMARY KEY (issuer_id, shard)
);
INSERT INTO crl_shards (issuer_id, shard, not_after_max)
  SELECT issuer_id, 0, MAX(not_after) FROM certificates GROUP BY issuer_id;

ALTER TABLE crl_numbers RENAME TO crl_numbers_v3;
CREATE TABLE crl_numbers (
  issuer_id   TEXT    NOT NULL,
  shard       INTEGER NOT NULL CHECK (shard >= 0),
  last_number INTEGER NOT NULL,
  PRIMARY KEY (issuer_id, shard)
);
INSERT INTO crl_numbers (issuer_id, shard, last_number) SELECT issuer_id, 0, last_number FROM crl_numbers_v3;
DROP TABLE crl_numbers_v3;

ALTER TABLE crl_state RENAME TO crl_state_v3;
CREATE TABLE crl_state (
  issuer_id   TEXT    NOT NULL,
  shard       INTEGER NOT NULL CHECK (shard >= 0),
  delta       INTEGER NOT NULL CHECK (delta IN (0, 1)),
  number      INTEGER NOT NULL,
  base_number INTEGER,
  this_update INTEGER NOT NULL,
  next_update INTEGER NOT NULL,
  der         BLOB    NOT NULL,
  CHECK ((delta = 1) = (base_number IS NOT NULL)),
  PRIMARY KEY (issuer_id, shard, delta)
);
INSERT INTO crl_state (issuer_id, shard, delta, number, base_number, this_update, next_update, der)
  SELECT issuer_id, 0, 0, number, NULL, this_update, next_update, der FROM crl_state_v3;
DROP TABLE crl_state_v3;
)sql",
    // 5: certificates an admin flagged for early replacement (an incident): ACME renewalInfo
    // and the REST renewal-info answer "now" for them.
    R"sql(
CREATE TABLE renewal_flags (
  serial     TEXT    NOT NULL PRIMARY KEY REFERENCES certificates (serial),
  flagged_at INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 6: ACME lookups by account: its orders list, newest first (RFC 8555 §7.1.2.1), and its valid
    // authorizations per identifier, for reuse by a new order.
    R"sql(
CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at, id);
CREATE INDEX acme_authorizations_reusable
  ON acme_authorizations (account_id, identifier_type, identifier_value, wildcard, expires)
  WHERE status = 'valid';
)sql",
    // 7: keys revoked for keyCompromise, written in the revocation's transaction; every issuance
    // refuses them. Keyed by the SHA-256 of the SubjectPublicKeyInfo; the first revocation wins.
    R"sql(
CREATE TABLE blocked_keys (
  key_sha256 TEXT    NOT NULL PRIMARY KEY CHECK (length(key_sha256) = 64),
  reason     INTEGER NOT NULL,
  blocked_at INTEGER NOT NULL,
  serial     TEXT    NOT NULL REFERENCES certificates (serial)
) WITHOUT ROWID;
)sql",
    // 8: the serving nodes' heartbeats (`sigil status` lists the nodes it can see).
    R"sql(
CREATE TABLE nodes (
  id         TEXT    NOT NULL PRIMARY KEY,
  hostname   TEXT    NOT NULL,
  urls       TEXT    NOT NULL,
  version    TEXT    NOT NULL,
  started_at INTEGER NOT NULL,
  last_seen  INTEGER NOT NULL
) WITHOUT ROWID;
)sql",
    // 9: certificates by issuance time. Being the narrowest index (an integer and the rowid), it is
    // what COUNT(*) reads (`sigil status`): about 15 MB for a million rows, where the narrowest
    // before was the serials' (50 MB); an "issued before" range (flag_for_renewal) may use it too.
    R"sql(
CREATE INDEX certificates_created_at ON certificates (created_at);
)sql",
    // 10: the audit log by action, outcome and time: the console's issuance and revocation
    // rates count one action's rows of the last hour or day from this index alone.
    R"sql(
CREATE INDEX audit_log_action ON audit_log (action, outcome, at);
)sql",
}};

}  // namespace sigil::store::sqlite
