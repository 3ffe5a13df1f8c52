#!/usr/bin/env bash
# Fuzzes the parsers that see untrusted bytes (CSR, certificate, PEM, DER, text codecs, OCSP,
# JWS/JWK, HTTP requests + the router, sigil.json, DNS responses in the validator) with
# libFuzzer under AddressSanitizer + UndefinedBehaviorSanitizer. Exits non-zero if any harness
# finds a crash, a leak, a timeout, undefined behaviour or a broken round-trip property.
#
#   FUZZ_SECONDS=60 ops/fuzz.sh            # per harness (default 30)
#   FUZZ_BUILD_DIR=build/fuzz              # where the standalone tests/fuzz project is built
#   FUZZ_CXX=clang++                        # libFuzzer needs clang
#   FUZZ_ONLY="csr pem"                     # a subset of harnesses
#   FUZZ_KEEP_GOING=1                       # fork mode: keep fuzzing after a crash, collect them all
#
# The seed corpus is made at run time (Sigil's own encoders via fuzz_seeds, plus requests and
# certificates from the openssl CLI); the growing corpus is kept in $FUZZ_BUILD_DIR/corpus/ and
# crashing inputs in $FUZZ_BUILD_DIR/artifacts/<harness>/ (reproduce: build/fuzz/fuzz_csr FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
build=${FUZZ_BUILD_DIR:-build/fuzz}
cxx=${FUZZ_CXX:-clang++}
harnesses=${FUZZ_ONLY:-"csr certificate pem der text ocsp jws http config dns pkcs11_uri"}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

echo "== fuzz: building harnesses in $build ($cxx)"
cmake -S tests/fuzz -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" >/dev/null
ninja -C "$build" -j "${JOBS:-2}"

work=$(mktemp -d "${TMPDIR:-/tmp}/sigil-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
seeds="$work/seeds"

echo "== fuzz: generating seeds"
"$build/fuzz_seeds" "$seeds"
if command -v openssl >/dev/null; then
  # Requests and certificates from an independent encoder, with shapes Sigil never writes.
  cat >"$work/req.cnf" <<'EOF'
[req]
distinguished_name = dn
attributes = attrs
prompt = no
[dn]
C = DE
O = Seed Org
OU = Ops
CN = o.example.internal
[attrs]
challengePassword = s3cret
EOF
  i=0
  for alg in "ec -pkeyopt ec_paramgen_curve:P-256" "ec -pkeyopt ec_paramgen_curve:P-384" \
             "ec -pkeyopt ec_paramgen_curve:P-521" "ed25519" "rsa:2048" "rsa:1024"; do
    i=$((i + 1))
    # shellcheck disable=SC2086  # $alg is several words on purpose
    openssl req -new -newkey $alg -nodes -keyout /dev/null -config "$work/req.cnf" \
      -addext "subjectAltName=DNS:o.example.internal,IP:10.0.0.1,URI:spiffe://example.internal/o,email:o@example.internal" \
      -outform DER -out "$seeds/csr/openssl-$i.der" 2>/dev/null
    openssl req -x509 -newkey $alg -nodes -keyout /dev/null -subj "/CN=OpenSSL Seed CA $i" -days 30 \
      -addext "nameConstraints=critical,permitted;DNS:example.internal,permitted;IP:10.0.0.0/255.0.0.0,excluded;email:.bad.example" \
      -addext "certificatePolicies=2.5.29.32.0" \
      -outform DER -out "$seeds/certificate/openssl-$i.der" 2>/dev/null
    cp "$seeds/certificate/openssl-$i.der" "$seeds/der/openssl-cert-$i.der"
    openssl x509 -inform DER -in "$seeds/certificate/openssl-$i.der" -out "$seeds/pem/openssl-$i.pem"
    openssl req -inform DER -in "$seeds/csr/openssl-$i.der" -out "$seeds/csr/openssl-$i.pem"
    # OCSP requests for that certificate (issuer = itself): SHA-1 and SHA-256 CertIDs, +/- nonce.
    openssl x509 -inform DER -in "$seeds/certificate/openssl-$i.der" -out "$work/c.pem" 2>/dev/null
    mkdir -p "$seeds/ocsp"
    openssl ocsp -issuer "$work/c.pem" -cert "$work/c.pem" -reqout "$seeds/ocsp/req-$i.der" 2>/dev/null || true
    openssl ocsp -issuer "$work/c.pem" -cert "$work/c.pem" -sha256 -no_nonce -reqout "$seeds/ocsp/req256-$i.der" \
      2>/dev/null || true
  done
fi

# sigil.json as shipped.
cp ops/examples/sigil.json "$seeds/config/ops-example.json"

# ACME requests as a client sends them: JWS with jwk and kid, JWKs of each key type.
# RFC 7512 URIs (sigil init --root-key, intermediate csr --key, the .p11 files).
mkdir -p "$seeds/pkcs11_uri"
printf '%s' 'pkcs11:token=ca-online;object=intermediate-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/etc/sigil/hsm.pin' >"$seeds/pkcs11_uri/1"
printf '%s' 'pkcs11:token=My%20Token;manufacturer=SoftHSM%20project;serial=abc;model=m;id=%01%02%ff;type=private;slot-id=7?module-name=softhsm2&pin-value=1234' >"$seeds/pkcs11_uri/2"
printf '%s' 'pkcs11:slot-description=s;slot-manufacturer=m;library-manufacturer=l;library-description=d;library-version=1.2;object=x?pin-source=file:///p' >"$seeds/pkcs11_uri/3"
mkdir -p "$seeds/jws"
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then
  /usr/bin/python3 - "$seeds/jws" <<'PY' || true
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa, utils
from cryptography.hazmat.primitives import hashes
out = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def jwk(k):
    p = k.public_key()
    if isinstance(k, ec.EllipticCurvePrivateKey):
        n = p.public_numbers(); size = (p.curve.key_size + 7) // 8
        return {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                "x": b64(n.x.to_bytes(size, "big")), "y": b64(n.y.to_bytes(size, "big"))}
    if isinstance(k, rsa.RSAPrivateKey):
        n = p.public_numbers()
        return {"kty": "RSA", "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")), "e": b64(n.e.to_bytes(3, "big"))}
    from cryptography.hazmat.primitives import serialization as ser
    return {"kty": "OKP", "crv": "Ed25519", "x": b64(p.public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw))}
def sign(k, data):
    if isinstance(k, ec.EllipticCurvePrivateKey):
        size = (k.curve.key_size + 7) // 8
        r, s = utils.decode_dss_signature(k.sign(data, ec.ECDSA(hashes.SHA256() if size == 32 else hashes.SHA384())))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    if isinstance(k, rsa.RSAPrivateKey):
        from cryptography.hazmat.primitives.asymmetric import padding
        return k.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return k.sign(data)
keys = {"ES256": ec.generate_private_key(ec.SECP256R1()), "ES384": ec.generate_private_key(ec.SECP384R1()),
        "RS256": rsa.generate_private_key(65537, 2048), "EdDSA": ed25519.Ed25519PrivateKey.generate()}
for alg, k in keys.items():
    for mode in ("jwk", "kid"):
        h = {"alg": alg, "nonce": "abc", "url": "https://ca/acme/new-order", mode: jwk(k) if mode == "jwk" else "https://ca/acme/acct/1"}
        p = b64(json.dumps(h).encode()); pl = b64(b'{"identifiers":[{"type":"dns","value":"a.example"}]}')
        doc = {"protected": p, "payload": pl, "signature": b64(sign(k, (p + "." + pl).encode()))}
        open(f"{out}/{alg}-{mode}.json", "w").write(json.dumps(doc))
    open(f"{out}/{alg}-jwk-only.json", "w").write(json.dumps(jwk(k)))
PY
fi

extra=()
if [ "${FUZZ_KEEP_GOING:-0}" = 1 ]; then extra=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi

status=0
for h in $harnesses; do
  corpus="$build/corpus/$h"
  artifacts="$build/artifacts/$h"
  log="$build/fuzz_$h.log"
  mkdir -p "$corpus" "$artifacts" "$seeds/$h"
  touch "$work/start-$h"
  echo "== fuzz: fuzz_$h for ${seconds}s"
  rc=0
  "$build/fuzz_$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "${extra[@]}" "$corpus" "$seeds/$h" >"$log" 2>&1 || rc=$?
  # Fork mode can exit 0 after ignoring crashes: new artifacts count as failures too.
  found=$(find "$artifacts" -type f -newer "$work/start-$h" | wc -l)
  if [ "$rc" -eq 0 ] && [ "$found" -eq 0 ]; then
    runs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' | tail -1 || true)
    [ -n "$runs" ] || runs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 || true)
    echo "   ok: ${runs:-?} runs, ${cov:-cov: ?}, corpus $(find "$corpus" -type f | wc -l) files"
  else
    status=1
    echo "   FAILED: exit $rc, $found new artifact(s) in $artifacts/ (log: $log)"
    grep -E 'ERROR:|SUMMARY:|property violated|runtime error|Test unit written' "$log" | sort | uniq -c | head -20 || true
  fi
done
exit $status
