// dns-01 (RFC 8555 §8.4): a TXT record at _acme-challenge.<identifier> equal to
// base64url(SHA-256(key authorization)). CNAMEs are followed by the resolver.
#include "acme/va/va_internal.hpp"
#include "ca/base/encoding.hpp"
#include "ca/crypto/crypto.hpp"

namespace sigil::acme::va::internal {

std::optional<Problem> validate_dns01(Context& ctx, const Task& task) {
  const std::string name = "_acme-challenge." + task.identifier;
  auto records = ctx.resolver.txt(name, ctx.deadline);
  if (!records) return records.problem();
  const std::string expected = base64url_encode(crypto::sha256(as_bytes(task.key_authorization)));
  for (const auto& value : *records)
    if (value == expected) return std::nullopt;
  std::string detail = "Incorrect TXT record " + quote(records->front());
  if (records->size() > 1) detail += " (and " + std::to_string(records->size() - 1) + " more)";
  return Problem{"unauthorized", detail + " found at " + name};
}

}  // namespace sigil::acme::va::internal
