// libFuzzer: OCSP request parsing (what the public responder reads from anyone), the echo of a
// parsed request into a response, and response parsing (what `sigil ocsp status` reads).
#include <cstddef>
#include <cstdint>

#include "ca/crypto/ocsp.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {

namespace ocsp = sigil::crypto::ocsp;
using sigil::Bytes;
using sigil::Errc;
using sigil::crypto::ByteView;

void check_request(ByteView in) {
  auto req = ocsp::parse_request(in);
  if (!req) {
    SIGIL_FUZZ_ASSERT(req.error().code == Errc::malformed);
    return;
  }
  SIGIL_FUZZ_ASSERT(!req->ids.empty() && req->ids.size() <= ocsp::kMaxRequestIds);
  for (const ocsp::CertId& id : req->ids) {
    SIGIL_FUZZ_ASSERT(id.issuer_name_hash.size() == ocsp::digest_size(id.hash));
    SIGIL_FUZZ_ASSERT(id.issuer_key_hash.size() == ocsp::digest_size(id.hash));
    SIGIL_FUZZ_ASSERT(!id.serial.empty());
  }
  if (req->nonce) SIGIL_FUZZ_ASSERT(!req->nonce->empty() && req->nonce->size() <= ocsp::kMaxNonce);

  // What we would send parses to the same request.
  auto again = ocsp::parse_request(ocsp::encode_request(*req));
  SIGIL_FUZZ_ASSERT(again.has_value());
  SIGIL_FUZZ_ASSERT(again->ids == req->ids && again->nonce == req->nonce);

  // Whatever parsed can be answered: every CertID and the nonce come back as they were sent.
  ocsp::ResponseSpec spec;
  spec.produced_at = sigil::from_unix(1893456000);
  spec.nonce = req->nonce;
  for (const ocsp::CertId& id : req->ids) {
    ocsp::SingleResponse s;
    s.id = id;
    s.status = ocsp::CertStatus::unknown;
    s.this_update = spec.produced_at;
    s.next_update = spec.produced_at + sigil::Seconds(3600);
    spec.responses.push_back(s);
  }
  auto tbs = ocsp::encode_response_data(Bytes(20, 0x5a), spec);
  SIGIL_FUZZ_ASSERT(tbs.has_value());
  const Bytes fake_signature(64, 0x01);
  auto resp = ocsp::parse_response(
      ocsp::assemble_response(*tbs, sigil::crypto::SignatureAlgorithm::ecdsa_sha256, fake_signature, {}));
  SIGIL_FUZZ_ASSERT(resp.has_value());
  SIGIL_FUZZ_ASSERT(resp->responses == spec.responses);
  SIGIL_FUZZ_ASSERT(resp->nonce == req->nonce);
  SIGIL_FUZZ_ASSERT(resp->tbs_response_data == *tbs);
}

void check_response(ByteView in) {
  auto resp = ocsp::parse_response(in);
  if (!resp) {
    SIGIL_FUZZ_ASSERT(resp.error().code == Errc::malformed);
    return;
  }
  if (resp->status != ocsp::ResponseStatus::successful) {
    SIGIL_FUZZ_ASSERT(resp->responses.empty() && resp->tbs_response_data.empty());
    return;
  }
  SIGIL_FUZZ_ASSERT(!resp->responses.empty());
  SIGIL_FUZZ_ASSERT(resp->responder_key_hash.empty() != resp->responder_name.empty());
  // Reassembled from its parts, it parses to the same thing.
  auto again = ocsp::parse_response(
      ocsp::assemble_response(resp->tbs_response_data, resp->sig_alg, resp->signature, resp->certs));
  SIGIL_FUZZ_ASSERT(again.has_value());
  SIGIL_FUZZ_ASSERT(again->responses == resp->responses && again->nonce == resp->nonce);
  SIGIL_FUZZ_ASSERT(again->produced_at == resp->produced_at && again->certs == resp->certs);
  SIGIL_FUZZ_ASSERT(again->signature == resp->signature && again->sig_alg == resp->sig_alg);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const ByteView in(data, size);
  check_request(in);
  check_response(in);
  return 0;
}
