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

inline constexpr std::array<std::string_view, 2> kMigrations{{
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
}};

}  // namespace sigil::store::sqlite
