#include "portwatch/revocation.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <vector>

#include "portwatch/files.h"

namespace portwatch {
namespace {

struct CrlDeleter {
  void operator()(X509_CRL* c) const { X509_CRL_free(c); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using CrlPtr = std::unique_ptr<X509_CRL, CrlDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

BioPtr MemBio(const std::string& s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(s.size())));
}

// Every certificate of a PEM bundle, in order.
std::vector<X509Ptr> ReadCerts(const std::string& pem) {
  std::vector<X509Ptr> out;
  BioPtr bio = MemBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) out.emplace_back(x);
  ERR_clear_error();  // the loop ends on "no start line"
  return out;
}

// Seconds since the Unix epoch through OpenSSL's own arithmetic: timegm is not on every OS
// (this file is in the Windows build too).
int64_t AsnTimeUnix(const ASN1_TIME* t) {
  if (t == nullptr) return 0;
  ASN1_TIME* epoch = ASN1_TIME_set(nullptr, 0);
  int days = 0, secs = 0;
  const bool ok = epoch != nullptr && ASN1_TIME_diff(&days, &secs, epoch, t) == 1;
  ASN1_TIME_free(epoch);
  return ok ? static_cast<int64_t>(days) * 86400 + secs : 0;
}

std::string SerialHex(const ASN1_INTEGER* serial) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
  if (bn == nullptr) return "?";
  char* hex = BN_bn2hex(bn);
  std::string s = hex != nullptr ? hex : "?";
  OPENSSL_free(hex);
  BN_free(bn);
  return s;
}

}  // namespace

struct RevocationList::Loaded {
  std::vector<CrlPtr> crls;
  size_t revoked = 0;
  int64_t next_update = 0;
};

RevocationList::RevocationList() = default;
RevocationList::~RevocationList() = default;

Status RevocationList::Load(const std::string& crl_path, const std::string& ca_path) {
  auto crl_text = ReadFileLimited(crl_path, 64 << 20, "CRL");
  if (!crl_text.ok()) return crl_text.status();
  auto ca_text = ReadFileLimited(ca_path, 1 << 20, "CA certificate");
  if (!ca_text.ok()) return ca_text.status();
  std::vector<X509Ptr> cas = ReadCerts(*ca_text);
  if (cas.empty()) return Status::Error("CA bundle '" + ca_path + "' holds no PEM certificate");

  auto next = std::make_shared<Loaded>();
  BioPtr bio = MemBio(*crl_text);
  while (X509_CRL* c = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
    next->crls.emplace_back(c);
  }
  ERR_clear_error();
  if (next->crls.empty()) {
    return Status::Error("CRL '" + crl_path +
                         "' holds no PEM X509 CRL (-----BEGIN X509 CRL-----); regenerate it "
                         "with deploy/pki/pki.sh crl");
  }
  for (const CrlPtr& crl : next->crls) {
    // A CRL counts only if a CA of the bundle signed it: anyone can write a file that lists no
    // serial at all.
    bool signed_by_ca = false;
    for (const X509Ptr& ca : cas) {
      if (X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_CRL_get_issuer(crl.get())) != 0) {
        continue;
      }
      EVP_PKEY* key = X509_get0_pubkey(ca.get());
      if (key != nullptr && X509_CRL_verify(crl.get(), key) == 1) signed_by_ca = true;
    }
    ERR_clear_error();
    if (!signed_by_ca) {
      return Status::Error("CRL '" + crl_path + "' is not signed by a CA in '" + ca_path +
                           "'; regenerate it with the fleet CA (deploy/pki/pki.sh crl)");
    }
    const STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl.get());
    next->revoked += revoked != nullptr ? static_cast<size_t>(sk_X509_REVOKED_num(revoked)) : 0;
    const int64_t nu = AsnTimeUnix(X509_CRL_get0_nextUpdate(crl.get()));
    if (nu != 0 && (next->next_update == 0 || nu < next->next_update)) next->next_update = nu;
  }
  std::lock_guard<std::mutex> lk(mu_);
  loaded_ = std::move(next);
  return Status::Ok();
}

bool RevocationList::IsRevoked(const std::string& cert_pem, std::string* why) const {
  std::shared_ptr<const Loaded> l;
  {
    std::lock_guard<std::mutex> lk(mu_);
    l = loaded_;
  }
  if (!l) return false;
  std::vector<X509Ptr> certs = ReadCerts(cert_pem);
  if (certs.empty()) {
    if (why != nullptr) *why = "the peer certificate does not parse";
    return true;
  }
  X509* cert = certs.front().get();
  for (const CrlPtr& crl : l->crls) {
    X509_REVOKED* entry = nullptr;
    // Matches the issuer name as well as the serial, so one CA's CRL cannot revoke another's.
    if (X509_CRL_get0_by_cert(crl.get(), &entry, cert) == 1) {
      if (why != nullptr) {
        *why = "certificate serial " + SerialHex(X509_get0_serialNumber(cert)) +
               " is revoked by the CRL";
      }
      return true;
    }
  }
  return false;
}

size_t RevocationList::revoked_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return loaded_ ? loaded_->revoked : 0;
}

int64_t RevocationList::next_update_unix() const {
  std::lock_guard<std::mutex> lk(mu_);
  return loaded_ ? loaded_->next_update : 0;
}

Expected<int64_t> CertificateNotAfterUnix(const std::string& pem) {
  std::vector<X509Ptr> certs = ReadCerts(pem);
  if (certs.empty()) return Status::Error("not a PEM certificate");
  return AsnTimeUnix(X509_get0_notAfter(certs.front().get()));
}

}  // namespace portwatch
