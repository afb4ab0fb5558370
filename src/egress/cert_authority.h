// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
//
// CertAuthority: a throw-away certificate authority for the egress proxy.
//
//   auto ca = CertAuthority::Create("kavach egress CA sb-1");
//   std::string pem = (*ca)->CertificatePem();       // goes into the sandbox's trust store
//   auto leaf = (*ca)->LeafFor("api.example.com");   // minted once, then cached
//   SSL_CTX_use_certificate(ctx, leaf->cert.get()); SSL_CTX_use_PrivateKey(ctx, leaf->key.get());
//
// Each sandbox gets its own CA (P-256 key, valid for 7 days, kept only in
// memory), so a certificate minted for one sandbox means nothing to another
// and nothing outlives the proxy. Leaf certificates carry the host name as a
// subjectAltName (DNS) and serverAuth; they share one P-256 key per CA.
// Thread-safe.
#ifndef KAVACH_EGRESS_CERT_AUTHORITY_H_
#define KAVACH_EGRESS_CERT_AUTHORITY_H_

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace kavach::internal {

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct EvpPkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using EvpPkeyPtr = std::unique_ptr<EVP_PKEY, EvpPkeyDeleter>;

// A certificate and its private key (shared ownership: OpenSSL refcounts).
struct CertifiedKey {
  std::shared_ptr<X509> cert;
  std::shared_ptr<EVP_PKEY> key;
};

// A PEM encoding of a certificate / private key.
std::string CertificateToPem(X509* cert);
std::string PrivateKeyToPem(EVP_PKEY* key);

class CertAuthority final {
 public:
  // A fresh CA named `common_name`.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<CertAuthority>> Create(
      std::string_view common_name);

  CertAuthority(const CertAuthority&) = delete;
  CertAuthority& operator=(const CertAuthority&) = delete;

  // The CA certificate, PEM.
  std::string CertificatePem() const;
  // A leaf certificate for `host` (a DNS name or an IP address) signed by this
  // CA, minted on first use and cached.
  [[nodiscard]] absl::StatusOr<CertifiedKey> LeafFor(const std::string& host);
  // Number of leaf certificates minted so far (for tests of the cache).
  size_t minted() const;

 private:
  CertAuthority() = default;

  EvpPkeyPtr ca_key_;
  X509Ptr ca_cert_;
  std::shared_ptr<EVP_PKEY> leaf_key_;
  mutable absl::Mutex mu_;
  std::map<std::string, CertifiedKey> leaves_ ABSL_GUARDED_BY(mu_);
  uint64_t next_serial_ ABSL_GUARDED_BY(mu_) = 2;
};

}  // namespace kavach::internal

#endif  // KAVACH_EGRESS_CERT_AUTHORITY_H_
