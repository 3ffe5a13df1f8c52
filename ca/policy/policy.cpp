#include "ca/policy/policy.hpp"

#include <algorithm>
#include <cctype>

namespace sigil::policy {
namespace {

using Type = GeneralName::Type;

Error rejected(std::string detail) { return make_error(Errc::rejected_identifier, std::move(detail)); }

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

bool ends_with_label(std::string_view name, std::string_view suffix) {
  if (name == suffix) return true;
  return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix &&
         name[name.size() - suffix.size() - 1] == '.';
}

struct Cidr {
  Bytes addr;
  int prefix = 0;
};

Result<Cidr> parse_cidr(std::string_view text) {
  const auto slash = text.find('/');
  Cidr c;
  auto addr = crypto::ip_to_bytes(text.substr(0, slash));
  if (!addr) return make_error(Errc::invalid_argument, "invalid IP range '" + std::string(text) + "'");
  c.addr = std::move(*addr);
  const int max = static_cast<int>(c.addr.size()) * 8;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    const std::string p(text.substr(slash + 1));
    if (p.empty() || p.size() > 3 || !std::all_of(p.begin(), p.end(), ::isdigit) || std::stoi(p) > max)
      return make_error(Errc::invalid_argument, "invalid IP range '" + std::string(text) + "'");
    c.prefix = std::stoi(p);
  }
  return c;
}

bool in_cidr(const Bytes& ip, const Cidr& c) {
  if (ip.size() != c.addr.size()) return false;
  for (int bit = 0; bit < c.prefix; ++bit) {
    const auto i = static_cast<std::size_t>(bit / 8);
    const int mask = 0x80 >> (bit % 8);
    if ((ip[i] & mask) != (c.addr[i] & mask)) return false;
  }
  return true;
}

bool is_ip_literal(std::string_view s) { return static_cast<bool>(crypto::ip_to_bytes(s)); }

bool valid_trust_domain(std::string_view td) {
  if (td.empty() || td.size() > 255) return false;
  return std::all_of(td.begin(), td.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
  });
}

}  // namespace

bool is_valid_dns_name(std::string_view name, bool allow_wildcard) {
  if (name.empty() || name.size() > 253 || name.back() == '.') return false;
  if (allow_wildcard && name.size() > 2 && name.substr(0, 2) == "*.") name = name.substr(2);
  if (is_ip_literal(name)) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    start = end + 1;
  }
  return true;
}

Status check_spiffe_id(std::string_view uri, std::string_view trust_domain) {
  constexpr std::string_view kScheme = "spiffe://";
  if (uri.size() > 2048) return rejected("SPIFFE ID too long");
  if (uri.substr(0, kScheme.size()) != kScheme) return rejected("URI '" + std::string(uri) + "' is not a SPIFFE ID");
  std::string_view rest = uri.substr(kScheme.size());
  const auto slash = rest.find('/');
  const std::string_view td = rest.substr(0, slash);
  if (!valid_trust_domain(td)) return rejected("invalid SPIFFE trust domain in '" + std::string(uri) + "'");
  if (td != trust_domain)
    return rejected("SPIFFE ID '" + std::string(uri) + "' is outside the trust domain '" + std::string(trust_domain) +
                    "'");
  if (slash == std::string_view::npos) return rejected("SPIFFE ID '" + std::string(uri) + "' has no path");
  std::string_view path = rest.substr(slash + 1);
  // SPIFFE ID spec §2.2: non-empty segments of [A-Za-z0-9._-], no "." or "..", no trailing slash.
  std::size_t start = 0;
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view seg = path.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..")
      return rejected("invalid SPIFFE ID path in '" + std::string(uri) + "'");
    for (char c : seg)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
        return rejected("invalid character in SPIFFE ID '" + std::string(uri) + "'");
    start = end + 1;
  }
  return {};
}

Result<GeneralName> normalize(const GeneralName& n) {
  GeneralName out = n;
  switch (n.type) {
    case Type::dns:
      out.value = lower(n.value);
      if (!is_valid_dns_name(out.value, true)) return rejected("invalid DNS name '" + n.value + "'");
      return out;
    case Type::ip: {
      auto b = crypto::ip_to_bytes(n.value);
      if (!b) return rejected("invalid IP address '" + n.value + "'");
      SIGIL_TRY(out.value, crypto::ip_from_bytes(*b));
      return out;
    }
    case Type::email: {
      const auto at = n.value.rfind('@');
      if (at == std::string::npos || at == 0) return rejected("invalid email address '" + n.value + "'");
      out.value = n.value.substr(0, at + 1) + lower(n.value.substr(at + 1));
      if (!is_valid_dns_name(out.value.substr(at + 1), false))
        return rejected("invalid email domain in '" + n.value + "'");
      return out;
    }
    case Type::uri:
      if (n.value.empty() || n.value.find_first_of(" \t\r\n") != std::string::npos)
        return rejected("invalid URI '" + n.value + "'");
      return out;
  }
  return out;
}

Decision IdentifierPolicy::decide(const GeneralName& n) const {
  auto refuse = [](const char* rule, std::string detail) {
    return Decision::refuse(Errc::rejected_identifier, rule, std::move(detail));
  };
  switch (n.type) {
    case Type::dns: {
      const bool wildcard = n.value.rfind("*.", 0) == 0;
      if (wildcard && !allow_wildcards)
        return refuse("policy.allow_wildcards", "wildcard names are not allowed: " + n.value);
      const std::string_view base = wildcard ? std::string_view(n.value).substr(2) : std::string_view(n.value);
      if (!wildcard && std::find(dns_names.begin(), dns_names.end(), n.value) != dns_names.end())
        return Decision::allow("policy.dns_names", n.value + " is listed");
      for (const auto& s : dns_suffixes)
        if (ends_with_label(base, s))
          return Decision::allow(wildcard ? "policy.allowed_domains, policy.allow_wildcards" : "policy.allowed_domains",
                                 (wildcard ? "wildcard under " : "under ") + s);
      return refuse("policy.allowed_domains", "DNS name '" + n.value + "' is not allowed by the identifier policy");
    }
    case Type::ip: {
      auto ip = crypto::ip_to_bytes(n.value);
      if (!ip) return refuse("syntax", "invalid IP address '" + n.value + "'");
      for (const auto& r : ip_ranges) {
        auto c = parse_cidr(r);
        if (c && in_cidr(*ip, *c)) return Decision::allow("policy.allowed_ip_ranges", "in " + r);
      }
      return refuse("policy.allowed_ip_ranges", "IP address " + n.value + " is not allowed by the identifier policy");
    }
    case Type::uri: {
      if (spiffe_trust_domain.empty())
        return refuse("policy.spiffe_trust_domain", "URI names are not allowed (no SPIFFE trust domain configured)");
      auto s = check_spiffe_id(n.value, spiffe_trust_domain);
      if (!s) return refuse("policy.spiffe_trust_domain", s.error().detail);
      return Decision::allow("policy.spiffe_trust_domain", "in the trust domain " + spiffe_trust_domain);
    }
    case Type::email: {
      const std::string domain = n.value.substr(n.value.rfind('@') + 1);
      for (const auto& s : dns_suffixes)
        if (ends_with_label(domain, s)) return Decision::allow("policy.allowed_domains", "mailbox under " + s);
      return refuse("policy.allowed_domains",
                    "email address '" + n.value + "' is not allowed by the identifier policy");
    }
  }
  return refuse("syntax", "unknown identifier type");
}

Status IdentifierPolicy::validate() const {
  for (const auto& d : dns_names)
    if (!is_valid_dns_name(d, false)) return make_error(Errc::invalid_argument, "invalid DNS name '" + d + "'");
  for (const auto& s : dns_suffixes)
    if (!is_valid_dns_name(s, false)) return make_error(Errc::invalid_argument, "invalid domain '" + s + "'");
  for (const auto& r : ip_ranges) SIGIL_TRY_STATUS(parse_cidr(r));
  if (!spiffe_trust_domain.empty() && !valid_trust_domain(spiffe_trust_domain))
    return make_error(Errc::invalid_argument, "invalid SPIFFE trust domain '" + spiffe_trust_domain + "'");
  return {};
}

Decision decide_name_constraints(const crypto::NameConstraints& nc, const GeneralName& n) {
  constexpr const char* kRule = "name_constraints";
  auto refuse = [&](std::string detail) {
    return Decision::refuse(Errc::rejected_identifier, kRule, std::move(detail));
  };
  auto matches = [&](const GeneralName& c) -> bool {
    if (c.type != n.type) return false;
    switch (n.type) {
      case Type::dns: {
        std::string_view base = n.value;
        if (base.rfind("*.", 0) == 0) base = base.substr(2);
        std::string_view cons = c.value;
        if (!cons.empty() && cons.front() == '.') cons = cons.substr(1);
        return cons.empty() || ends_with_label(base, lower(cons));
      }
      case Type::ip: {
        auto ip = crypto::ip_to_bytes(n.value);
        auto range = parse_cidr(c.value);
        return ip && range && in_cidr(*ip, *range);
      }
      case Type::email: {
        const std::string domain = n.value.substr(n.value.rfind('@') + 1);
        if (c.value.find('@') != std::string::npos) return lower(c.value) == lower(n.value);
        std::string_view cons = c.value;
        if (!cons.empty() && cons.front() == '.')
          return ends_with_label(domain, cons.substr(1)) && domain != cons.substr(1);
        return domain == lower(cons);
      }
      case Type::uri: {
        const auto start = n.value.find("://");
        if (start == std::string::npos) return false;
        std::string host = n.value.substr(start + 3);
        host = host.substr(0, host.find_first_of("/:?#"));
        std::string_view cons = c.value;
        if (!cons.empty() && cons.front() == '.')
          return ends_with_label(host, cons.substr(1)) && host != cons.substr(1);
        return lower(host) == lower(cons);
      }
    }
    return false;
  };
  for (const auto& e : nc.excluded)
    if (matches(e)) return refuse(crypto::to_string(n) + " is excluded by the issuing CA's name constraints");
  // A wildcard covers every name one label below its base: refused if an excluded subtree lies there.
  if (n.type == Type::dns && n.value.rfind("*.", 0) == 0) {
    const std::string_view base = std::string_view(n.value).substr(2);
    for (const auto& e : nc.excluded) {
      if (e.type != Type::dns) continue;
      std::string_view cons = e.value;
      if (!cons.empty() && cons.front() == '.') cons = cons.substr(1);
      const std::string lc = lower(cons);
      if (lc.size() > base.size() && ends_with_label(lc, base))
        return refuse(crypto::to_string(n) + " covers " + lc + ", excluded by the issuing CA's name constraints");
    }
  }
  bool any_of_type = false;
  for (const auto& p : nc.permitted) {
    if (p.type != n.type) continue;
    any_of_type = true;
    if (matches(p)) return Decision::allow(kRule, "permitted subtree " + crypto::to_string(p));
  }
  if (any_of_type) return refuse(crypto::to_string(n) + " is outside the issuing CA's permitted names");
  return Decision::allow(kRule, "no constraint on this name type");
}

crypto::NameConstraints name_constraints_for(const IdentifierPolicy& p, const std::vector<std::string>& own_dns_names) {
  crypto::NameConstraints nc;
  auto permit = [&](Type t, std::string v) {
    GeneralName g{t, std::move(v)};
    if (std::find(nc.permitted.begin(), nc.permitted.end(), g) == nc.permitted.end()) nc.permitted.push_back(g);
  };
  // dNSName: a subtree covers the name and every name below it (§4.2.1.10), like a suffix.
  for (const auto* list : {&p.dns_names, &p.dns_suffixes, &own_dns_names})
    for (const auto& d : *list) permit(Type::dns, lower(d));
  bool v4 = false, v6 = false;
  for (const auto& r : p.ip_ranges) {
    auto c = parse_cidr(r);
    if (!c) continue;  // validate() refuses it before any certificate is made
    (c->addr.size() == 4 ? v4 : v6) = true;
    auto addr = crypto::ip_from_bytes(c->addr);
    if (addr) permit(Type::ip, *addr + "/" + std::to_string(c->prefix));
  }
  if (!v4) nc.excluded.push_back({Type::ip, "0.0.0.0/0"});
  if (!v6) nc.excluded.push_back({Type::ip, "::/0"});
  // A URI constraint names the host: spiffe://td/... has host td.
  permit(Type::uri, p.spiffe_trust_domain.empty() ? "invalid" : p.spiffe_trust_domain);
  // rfc822Name: "d" is a mailbox at host d, ".d" one at any host below d (§4.2.1.10); the
  // policy allows email at a suffix and below it.
  for (const auto& d : p.dns_suffixes) {
    permit(Type::email, lower(d));
    permit(Type::email, "." + lower(d));
  }
  if (p.dns_suffixes.empty()) permit(Type::email, "invalid");
  return nc;
}

Decision decide_key(const crypto::PublicKey& key) {
  constexpr const char* kRule = "key_policy";
  auto refuse = [&](std::string detail) { return Decision::refuse(Errc::bad_public_key, kRule, std::move(detail)); };
  switch (key.algorithm) {
    case crypto::KeyAlgorithm::ec_p256:
    case crypto::KeyAlgorithm::ec_p384:
    case crypto::KeyAlgorithm::ed25519:
      return Decision::allow(kRule, std::string(crypto::to_string(key.algorithm)) + " is accepted");
    case crypto::KeyAlgorithm::rsa: {
      if (key.bits < 2048)
        return refuse("RSA key of " + std::to_string(key.bits) + " bits is below the minimum of 2048");
      if (key.bits > 8192) return refuse("RSA key larger than 8192 bits");
      if (key.bits % 8 != 0) return refuse("RSA modulus size must be a multiple of 8 bits");
      const Bytes f4{0x01, 0x00, 0x01};
      if (key.rsa_exponent != f4) return refuse("RSA public exponent must be 65537");
      return Decision::allow(kRule, "RSA " + std::to_string(key.bits) + " bits, e=65537 is accepted");
    }
  }
  return refuse("unsupported key");
}

RenewalWindow renewal_window(TimePoint not_before, TimePoint not_after) {
  const auto life = not_after - not_before;
  return {not_before + life * 2 / 3, not_before + life * 3 / 4};
}

RenewalWindow renew_now(TimePoint now) { return {now - std::chrono::hours(2), now - std::chrono::hours(1)}; }

}  // namespace sigil::policy
