// Private to ca/crypto: the DER-writing and error helpers shared by the x509_*.cpp pieces and
// extensions.cpp. Not installed, not included outside ca/crypto.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ca/crypto/x509.hpp"

namespace sigil::crypto::detail {

using der::Reader;
using der::Tlv;
using der::Writer;
namespace tag = der::tag;

inline Error bad(std::string_view what) { return make_error(Errc::malformed, std::string(what)); }

inline std::string bytes_sv(ByteView b) { return {reinterpret_cast<const char*>(b.data()), b.size()}; }

// GeneralName context tags (RFC 5280 §4.2.1.6).
constexpr unsigned kGnEmail = 1, kGnDns = 2, kGnUri = 6, kGnIp = 7;

inline void write_general_name(Writer& w, const GeneralName& n) {
  switch (n.type) {
    case GeneralName::Type::dns:
      w.string(tag::context(kGnDns), n.value);
      break;
    case GeneralName::Type::email:
      w.string(tag::context(kGnEmail), n.value);
      break;
    case GeneralName::Type::uri:
      w.string(tag::context(kGnUri), n.value);
      break;
    case GeneralName::Type::ip: {
      auto b = ip_to_bytes(n.value);
      w.tlv(tag::context(kGnIp), b ? ByteView(*b) : ByteView{});
      break;
    }
  }
}

inline void write_extension(Writer& w, ByteView oid, bool critical, const Bytes& value) {
  const auto m = w.begin(tag::kSequence);
  w.oid(oid);
  if (critical) w.boolean(true);
  w.octet_string(value);
  w.end(m);
}

template <class F>
Bytes build(F&& f) {
  Writer w;
  f(w);
  return w.take();
}

// DistributionPointName: distributionPoint [0] { fullName [0] { URI } } (one URI).
inline void write_distribution_point_name(Writer& x, const std::string& url) {
  const auto dpn = x.begin(tag::context_constructed(0));   // distributionPoint
  const auto full = x.begin(tag::context_constructed(0));  // fullName
  x.string(tag::context(kGnUri), url);
  x.end(full);
  x.end(dpn);
}

// CRLDistributionPoints / FreshestCRL: one DistributionPoint per URL, each a fullName URI.
inline Bytes distribution_points(const std::vector<std::string>& urls) {
  return build([&](Writer& x) {
    const auto m = x.begin(tag::kSequence);
    for (const auto& url : urls) {
      const auto dp = x.begin(tag::kSequence);
      write_distribution_point_name(x, url);
      x.end(dp);
    }
    x.end(m);
  });
}

}  // namespace sigil::crypto::detail
