#pragma once
// A table-level copy of a whole sigil database into another engine's empty one (`sigil migrate`):
// the tables in dependency order, rows as engine-neutral values, and the copy with its
// verification. The engines supply a Source (store/sqlite/sqlite_transfer.hpp) and a Target
// (store/postgres/postgres_transfer.hpp); nothing here knows SQL dialects.
#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil::store::transfer {

// boolean: 0/1 INTEGER in SQLite, BOOLEAN in PostgreSQL; carried as 0/1.
enum class Type { integer, text, blob, boolean };

struct Column {
  std::string_view name;
  Type type;
  // Written once every table is in (NULL until then): a reference closing a cycle (an EAB key
  // names the account bound to it, the account names its key), which no table order satisfies.
  bool deferred = false;
};

struct Table {
  std::string_view name;
  std::vector<Column> columns;  // the first is the key a deferred column is set by
};

// Every table a copy carries, parents before children (foreign keys hold at each step).
const std::vector<Table>& tables();

// Tables a copy leaves out: schema bookkeeping and runtime state of the serving nodes (derived
// or short-lived: the target recomputes the revocation counter from the copied rows).
inline constexpr std::array<std::string_view, 4> kNotCopied{"sigil_schema", "nodes", "acme_spent_nonces",
                                                            "revocation_counter"};
// True for a table of tables() or of kNotCopied: a source refuses a database with any other
// (written by a newer schema this copy does not know).
bool is_known_table(std::string_view name);

// NULL, an integer (booleans as 0/1), text, or bytes.
using Value = std::variant<std::monostate, std::int64_t, std::string, Bytes>;
using Row = std::vector<Value>;  // in Table::columns order
using RowFn = std::function<Status(const Row&)>;
// serial, der (empty while pending)
using CertificateFn = std::function<Status(const std::string& serial, const Bytes& der)>;

// What both ends answer for the verification.
class Snapshot {
 public:
  virtual ~Snapshot() = default;
  virtual Result<std::int64_t> count(const Table& t) = 0;
  // Every certificate's serial and DER, ordered by serial bytewise.
  virtual Status certificates(const CertificateFn& fn) = 0;
};

// The database copied from, read in one consistent snapshot.
class Source : public Snapshot {
 public:
  // Runs `body` inside one read transaction: every read it makes sees the same state.
  virtual Status snapshot(const std::function<Status()>& body) = 0;
  virtual Status rows(const Table& t, const RowFn& fn) = 0;
};

// The database copied into, written in one transaction.
class Target : public Snapshot {
 public:
  // Begins the transaction, keeps other writers out of it until the end, and refuses (conflict,
  // naming the table) a database holding any row of tables().
  virtual Status begin() = 0;
  // Writes the rows `fill` passes to `put` into `t`.
  virtual Status write(const Table& t, const std::function<Status(const RowFn& put)>& fill) = 0;
  // Once every table is in: deferred columns, and counters past the copied rows (audit ids,
  // the revocation sequence).
  virtual Status finish() = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;  // best effort; nothing is committed without commit()
};

struct TableCount {
  std::string table;
  std::int64_t rows = 0;
};

struct Report {
  std::vector<TableCount> tables;  // tables() order
  std::int64_t rows = 0;
  std::int64_t certificates = 0;
  std::string certificate_sha256;  // hex; see certificate_checksum
};

// SHA-256, supplied by the caller: the store sees no crypto library (DESIGN.md's walls).
using Sha256 = std::function<Bytes(std::span<const std::uint8_t>)>;
// (rows copied, rows in all); called every few thousand rows and once at the end.
using Progress = std::function<void(std::int64_t copied, std::int64_t total)>;

// The certificates' checksum: SHA-256 over, for each certificate ordered by serial, the SHA-256
// of (4-byte big-endian length, serial, 4-byte big-endian length, der). Hashing each row first
// keeps the one-shot Sha256 to 32 bytes a certificate; the lengths keep (serial, der)
// boundaries unambiguous. Returns the hex digest and the number of certificates.
Result<std::pair<std::string, std::int64_t>> certificate_checksum(Snapshot& s, const Sha256& sha256);

// Copies every table of `from` into `to` from one snapshot in one transaction, then verifies,
// before COMMIT, that each table's row count and the certificates' checksum agree on both ends.
// `before_commit`, when given, has the last word (e.g. no writer appeared on the source
// meanwhile). Any refusal or mismatch (naming the table) rolls back: nothing is committed.
Result<Report> copy(Source& from, Target& to, const Sha256& sha256, const Progress& progress = {},
                    const std::function<Status()>& before_commit = {});

}  // namespace sigil::store::transfer
