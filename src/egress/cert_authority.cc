// Copyright 2026 The kavach Authors. SPDX-License-Identifier: Apache-2.0
#include "egress/cert_authority.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "linux/strings.h"

namespace kavach::internal {
namespace {

constexpr long kOneHour = 60 * 60;
constexpr long kCaLifetime = 7 * 24 * kOneHour;

std::string OpenSslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return absl::StrCat(ToAbsl(what), ": ", buf);
}

absl::StatusOr<EvpPkeyPtr> NewP256Key() {
  EvpPkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError(OpenSslError("generate P-256 key"));
  return key;
}

bool AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

bool SetRandomSerial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return false;
  bytes[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(bytes, sizeof bytes, nullptr);
  if (bn == nullptr) return false;
  bool ok = BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != nullptr;
  BN_free(bn);
  return ok;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::string CertificateToPem(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

std::string PrivateKeyToPem(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  std::string pem(data, static_cast<size_t>(len));
  BIO_free(bio);
  return pem;
}

absl::StatusOr<std::unique_ptr<CertAuthority>> CertAuthority::Create(std::string_view common_name) {
  std::unique_ptr<CertAuthority> ca(new CertAuthority());
  absl::StatusOr<EvpPkeyPtr> key = NewP256Key();
  if (!key.ok()) return key.status();
  ca->ca_key_ = *std::move(key);
  absl::StatusOr<EvpPkeyPtr> leaf_key = NewP256Key();
  if (!leaf_key.ok()) return leaf_key.status();
  ca->leaf_key_ = std::shared_ptr<EVP_PKEY>(leaf_key->release(), EvpPkeyDeleter());

  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError(OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);
  X509_NAME* name = X509_get_subject_name(cert.get());
  std::string cn(common_name);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>("kavach"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kOneHour);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCaLifetime);
  X509_set_pubkey(cert.get(), ca->ca_key_.get());
  if (!SetRandomSerial(cert.get()) ||
      !AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash") ||
      X509_sign(cert.get(), ca->ca_key_.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("make CA certificate"));
  }
  ca->ca_cert_ = std::move(cert);
  return ca;
}

std::string CertAuthority::CertificatePem() const { return CertificateToPem(ca_cert_.get()); }

size_t CertAuthority::minted() const {
  absl::MutexLock lock(&mu_);
  return leaves_.size();
}

absl::StatusOr<CertifiedKey> CertAuthority::LeafFor(const std::string& host) {
  absl::MutexLock lock(&mu_);
  if (auto it = leaves_.find(host); it != leaves_.end()) return it->second;
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError(OpenSslError("X509_new"));
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), next_serial_++);
  X509_NAME* name = X509_get_subject_name(cert.get());
  // CN is limited to 64 bytes; the SAN carries the full name.
  std::string cn = host.substr(0, 64);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca_cert_.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -kOneHour);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), kCaLifetime - kOneHour);
  X509_set_pubkey(cert.get(), leaf_key_.get());
  std::string san = absl::StrCat(IsIpAddress(host) ? "IP:" : "DNS:", host);
  if (!AddExtension(cert.get(), ca_cert_.get(), NID_basic_constraints, "critical,CA:FALSE") ||
      !AddExtension(cert.get(), ca_cert_.get(), NID_key_usage, "critical,digitalSignature") ||
      !AddExtension(cert.get(), ca_cert_.get(), NID_ext_key_usage, "serverAuth") ||
      !AddExtension(cert.get(), ca_cert_.get(), NID_subject_alt_name, san) ||
      !AddExtension(cert.get(), ca_cert_.get(), NID_authority_key_identifier, "keyid:always") ||
      X509_sign(cert.get(), ca_key_.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError(absl::StrCat("mint certificate for ", host)));
  }
  CertifiedKey leaf{std::shared_ptr<X509>(cert.release(), X509Deleter()), leaf_key_};
  leaves_.emplace(host, leaf);
  return leaf;
}

}  // namespace kavach::internal
