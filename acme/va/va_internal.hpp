#pragma once
// Shared by the validators of acme/va; not part of the module's interface.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "acme/va/va.hpp"
#include "ca/base/error.hpp"
#include "ca/base/file.hpp"

namespace sigil::acme::va::internal {

using SteadyClock = std::chrono::steady_clock;
using Deadline = SteadyClock::time_point;

// Why a step failed, in ACME terms.
struct Problem {
  std::string type;  // ACME error type without the URN prefix
  std::string detail;
};

// A value or a Problem.
template <class T>
class Checked {
 public:
  Checked(T value) : value_(std::move(value)) {}              // NOLINT(google-explicit-constructor)
  Checked(Problem problem) : problem_(std::move(problem)) {}  // NOLINT(google-explicit-constructor)
  explicit operator bool() const { return value_.has_value(); }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }
  T* operator->() { return &*value_; }
  const Problem& problem() const { return *problem_; }

 private:
  std::optional<T> value_;
  std::optional<Problem> problem_;
};

// An address range; IPv4 ranges also match IPv4-mapped IPv6 addresses.
struct IpRange {
  Bytes network;  // 4 or 16 bytes, host bits zero
  int prefix = 0;
  std::string text;  // as configured
  bool contains(const Bytes& ip) const;
};
Result<IpRange> parse_range(std::string_view cidr);

// "127.0.0.1:8053,[::1]:53,10.0.0.2" -> c-ares' server CSV ("127.0.0.1:8053,[::1]:53,10.0.0.2:53").
Result<std::string> parse_resolvers(std::string_view text);

struct Settings {
  Config config;
  std::string resolvers_csv;  // empty: c-ares' defaults (resolv.conf)
  std::vector<IpRange> forbidden;
  // The range containing `ip` (text form), if any.
  const IpRange* forbidden_range(const std::string& ip) const;
};

// A c-ares channel: one per validation (channels are not thread-safe in c-ares 1.18).
class Resolver {
 public:
  static Result<std::unique_ptr<Resolver>> create(const std::string& resolvers_csv);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  struct Addresses {
    std::vector<std::string> v6, v4;  // text form, in answer order
  };
  // A and AAAA, asked together. A problem only when neither gives an address (then the A
  // lookup's failure is reported, Boulder's way).
  Checked<Addresses> addresses(const std::string& name, Deadline deadline);
  // TXT records (the strings of each joined). NXDOMAIN and an empty answer are problems.
  Checked<std::vector<std::string>> txt(const std::string& name, Deadline deadline);

  struct Impl;

 private:
  explicit Resolver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// DNS answers as c-ares delivers them (dns_message.cpp): the bytes come from whatever DNS server
// answered, so this is what tests/fuzz/fuzz_dns.cpp drives.
namespace dns {
inline constexpr int kClassIn = 1;
inline constexpr int kTypeA = 1, kTypeCname = 5, kTypeTxt = 16, kTypeAaaa = 28;
inline constexpr int kMaxCnames = 8;

struct Record {
  std::string name;  // lower case, no trailing dot
  int type = 0;
  Bytes rdata;
  std::string target;  // CNAME only
};
struct Message {
  int rcode = 0;
  std::vector<Record> answers;  // class IN only
};
// The records of one type at the end of a name's CNAME chain.
struct RRset {
  std::vector<Bytes> rdata;
  bool nxdomain = false;
};

std::string type_name(int type);  // "A", "AAAA", "TXT", "CNAME"
// Header and answer section; nullopt when malformed (truncated, bad names, short records).
std::optional<Message> parse_message(const Bytes& message);
// A TXT record's character-strings, joined (RFC 8555 §8.4 compares the whole value).
std::optional<std::string> txt_value(const Bytes& rdata);
// The records of `type` for `current`, following the CNAMEs inside `msg` (at most kMaxCnames
// over the whole lookup, counted in `cnames`; a name already in `seen` is a loop). Empty when
// the chain leaves the message: `current` is then where it ended, to be asked next.
Checked<RRset> follow(const Message& msg, std::string& current, int type, const std::string& name,
                      std::vector<std::string>& seen, int& cnames);
}  // namespace dns

// What one validation works with.
struct Context {
  const Settings& settings;
  Resolver& resolver;
  Deadline deadline;
  std::vector<std::string>& addresses_tried;  // validators append each address they connect to
};

// Identifiers and names.
bool is_dns_name(std::string_view name);               // LDH labels, 1..63 each, <= 253 in all, not all digits
std::optional<Bytes> ip_bytes(std::string_view text);  // IPv4 or IPv6 literal (no brackets)
std::string ip_text(const Bytes& ip);                  // canonical form
std::string reverse_name(const Bytes& ip);             // "1.0.0.127.in-addr.arpa", RFC 8738 §6
std::string lower(std::string_view s);
bool all_digits(std::string_view s);  // false when empty
// For details: printable ASCII as is, others as \xNN, at most `max` characters, then "...".
std::string quote(std::string_view s, std::size_t max = 64);

// Which addresses to contact for a host (a DNS name, or an IP identifier itself), in order:
// the first IPv6, then the first IPv4 (Boulder); forbidden ones dropped.
Checked<std::vector<std::string>> addresses_to_try(Context& ctx, const std::string& host, bool host_is_ip);

// The connect deadline for an attempt when `more_after` further addresses wait.
Deadline connect_deadline(Deadline deadline, bool more_after);

// The validators: nothing when the identifier is proven, else why not. The task's types and
// identifier syntax are checked by the caller (va.cpp) before.
std::optional<Problem> validate_http01(Context& ctx, const Task& task);
std::optional<Problem> validate_dns01(Context& ctx, const Task& task);
std::optional<Problem> validate_tlsalpn01(Context& ctx, const Task& task);

}  // namespace sigil::acme::va::internal
