// DNS answers as c-ares hands them to the resolver (dns.cpp): the whole message is read here,
// because owner names matter for CNAME chains (c-ares 1.18's TXT parser ignores them). No
// sockets: the bytes are whatever a DNS server sent, so this is fuzzed (tests/fuzz/fuzz_dns.cpp).
#include <ares.h>

#include <algorithm>
#include <cctype>

#include "acme/va/va_internal.hpp"

namespace sigil::acme::va::internal::dns {
namespace {

int be16(const Bytes& m, std::size_t off) { return (m[off] << 8) | m[off + 1]; }

// A possibly compressed name at `off` (c-ares checks bounds and pointer loops); `off` moves
// past it. Lower-cased (RFC 4343: ASCII only), without the trailing dot.
std::optional<std::string> read_name(const Bytes& m, std::size_t& off) {
  if (off >= m.size()) return std::nullopt;
  char* s = nullptr;
  long len = 0;
  if (ares_expand_name(m.data() + off, m.data(), static_cast<int>(m.size()), &s, &len) != ARES_SUCCESS)
    return std::nullopt;
  std::string name(s);
  ares_free_string(s);
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!name.empty() && name.back() == '.') name.pop_back();
  off += static_cast<std::size_t>(len);
  return name;
}

}  // namespace

std::string type_name(int type) {
  switch (type) {
    case kTypeA:
      return "A";
    case kTypeAaaa:
      return "AAAA";
    case kTypeTxt:
      return "TXT";
    default:
      return "CNAME";
  }
}

std::optional<Message> parse_message(const Bytes& m) {
  if (m.size() < 12) return std::nullopt;
  Message msg;
  msg.rcode = m[3] & 0x0f;
  const int questions = be16(m, 4), answers = be16(m, 6);
  std::size_t off = 12;
  for (int i = 0; i < questions; ++i) {
    if (!read_name(m, off) || off + 4 > m.size()) return std::nullopt;
    off += 4;
  }
  for (int i = 0; i < answers; ++i) {
    auto name = read_name(m, off);
    if (!name || off + 10 > m.size()) return std::nullopt;
    Record r;
    r.name = std::move(*name);
    r.type = be16(m, off);
    const int rclass = be16(m, off + 2);
    const auto rdlen = static_cast<std::size_t>(be16(m, off + 8));
    off += 10;
    if (off + rdlen > m.size()) return std::nullopt;
    r.rdata.assign(m.begin() + static_cast<std::ptrdiff_t>(off), m.begin() + static_cast<std::ptrdiff_t>(off + rdlen));
    if (r.type == kTypeCname) {
      std::size_t t = off;
      auto target = read_name(m, t);
      if (!target || t > off + rdlen) return std::nullopt;
      r.target = std::move(*target);
    }
    off += rdlen;
    if (rclass == kClassIn) msg.answers.push_back(std::move(r));
  }
  return msg;
}

std::optional<std::string> txt_value(const Bytes& rdata) {
  std::string out;
  for (std::size_t i = 0; i < rdata.size();) {
    const std::size_t len = rdata[i];
    if (i + 1 + len > rdata.size()) return std::nullopt;
    out.append(reinterpret_cast<const char*>(rdata.data()) + i + 1, len);
    i += 1 + len;
  }
  return out;
}

Checked<RRset> follow(const Message& msg, std::string& current, int type, const std::string& name,
                      std::vector<std::string>& seen, int& cnames) {
  for (;;) {
    RRset set;
    for (const auto& r : msg.answers)
      if (r.name == current && r.type == type) set.rdata.push_back(r.rdata);
    if (!set.rdata.empty()) return set;
    const auto cname = std::find_if(msg.answers.begin(), msg.answers.end(),
                                    [&](const Record& r) { return r.name == current && r.type == kTypeCname; });
    if (cname == msg.answers.end()) return set;
    if (++cnames > kMaxCnames)
      return Problem{"dns", "DNS problem: too many CNAMEs looking up " + type_name(type) + " for " + name};
    if (std::find(seen.begin(), seen.end(), cname->target) != seen.end())
      return Problem{"dns", "DNS problem: CNAME loop looking up " + type_name(type) + " for " + name};
    current = cname->target;
    seen.push_back(current);
  }
}

}  // namespace sigil::acme::va::internal::dns
