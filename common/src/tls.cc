#include "portwatch/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_certificate_verifier.h>
#include <grpcpp/security/tls_credentials_options.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "portwatch/files.h"

namespace portwatch {
namespace {

std::string OpensslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

struct BioDeleter { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Deleter { void operator()(X509* x) const { X509_free(x); } };
struct PkeyDeleter { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

X509Ptr ParseCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

std::string SubjectName(X509* cert) {
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  std::string name;
  if (sans != nullptr) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans) && name.empty(); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
      if (gn->type == GEN_DNS) {
        const unsigned char* data = ASN1_STRING_get0_data(gn->d.dNSName);
        name.assign(reinterpret_cast<const char*>(data), ASN1_STRING_length(gn->d.dNSName));
      }
    }
    GENERAL_NAMES_free(sans);
  }
  if (name.empty()) {
    char cn[256] = {0};
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0) {
      name = cn;
    }
  }
  return name;
}

constexpr char kPkiHint[] =
    "; make development certificates with deploy/pki/make-dev-pki.sh, or pass the right path";

// OpenSSL's own IPv4/IPv6 literal parser: the same on every OS (inet_pton needs POSIX or
// Winsock headers, and MSVC has no <arpa/inet.h>).
bool LooksLikeIpAddress(const std::string& s) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(s.c_str());
  if (ip == nullptr) return false;
  ASN1_OCTET_STRING_free(ip);
  return true;
}

}  // namespace

Expected<TlsMaterial> LoadTlsMaterial(const TlsFiles& files) {
  TlsMaterial m;
  auto ca = ReadFileLimited(files.ca_cert, 1 << 20, "CA certificate");
  if (!ca.ok()) return Status::Error(ca.error() + kPkiHint);
  m.ca_pem = std::move(*ca);
  X509Ptr ca_cert = ParseCert(m.ca_pem);
  if (!ca_cert) {
    return Status::Error("CA certificate '" + files.ca_cert +
                         "' is not a PEM certificate: " + OpensslError() + kPkiHint);
  }
  if (files.cert.empty() != files.key.empty()) {
    return Status::Error("a certificate and its key go together: pass both or neither");
  }
  if (files.cert.empty()) return m;

  auto cert = ReadFileLimited(files.cert, 1 << 20, "certificate");
  if (!cert.ok()) return Status::Error(cert.error() + kPkiHint);
  auto key = ReadFileLimited(files.key, 1 << 20, "private key");
  if (!key.ok()) return Status::Error(key.error() + kPkiHint);
  m.cert_pem = std::move(*cert);
  m.key_pem = std::move(*key);

  X509Ptr leaf = ParseCert(m.cert_pem);
  if (!leaf) {
    return Status::Error("certificate '" + files.cert + "' is not a PEM certificate: " +
                         OpensslError() + kPkiHint);
  }
  BioPtr kbio(BIO_new_mem_buf(m.key_pem.data(), static_cast<int>(m.key_pem.size())));
  PkeyPtr pkey(PEM_read_bio_PrivateKey(kbio.get(), nullptr, nullptr, nullptr));
  if (!pkey) {
    return Status::Error("private key '" + files.key +
                         "' is not an unencrypted PEM private key: " + OpensslError() + kPkiHint);
  }
  if (X509_check_private_key(leaf.get(), pkey.get()) != 1) {
    ERR_clear_error();
    return Status::Error("private key '" + files.key + "' does not belong to certificate '" +
                         files.cert + "'" + kPkiHint);
  }
  if (X509_cmp_current_time(X509_get0_notAfter(leaf.get())) < 0) {
    return Status::Error("certificate '" + files.cert + "' has expired; issue a new one");
  }
  if (X509_cmp_current_time(X509_get0_notBefore(leaf.get())) > 0) {
    return Status::Error("certificate '" + files.cert +
                         "' is not valid yet; check this host's clock");
  }
  PkeyPtr ca_key(X509_get_pubkey(ca_cert.get()));
  if (!ca_key || X509_verify(leaf.get(), ca_key.get()) != 1) {
    ERR_clear_error();
    return Status::Error("certificate '" + files.cert + "' is not signed by the CA in '" +
                         files.ca_cert + "'; both sides must use the fleet CA" + kPkiHint);
  }
  m.subject_name = SubjectName(leaf.get());
  return m;
}

std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& m) {
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = m.ca_pem;
  opts.pem_key_cert_pairs.push_back({m.key_pem, m.cert_pem});
  return grpc::SslServerCredentials(opts);
}

namespace {

// Runs after OpenSSL has verified the chain, the validity period and the extended key usage:
// what is left is the CRL, which the collector reloads on its own schedule.
class RevocationVerifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  RevocationVerifier(std::shared_ptr<const RevocationList> list,
                     std::function<void(const std::string&)> on_revoked)
      : list_(std::move(list)), on_revoked_(std::move(on_revoked)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/, grpc::Status* sync_status) override {
    std::string why;
    const grpc::string_ref pem = request->peer_cert();
    if (list_ && list_->IsRevoked(std::string(pem.data(), pem.size()), &why)) {
      if (on_revoked_) on_revoked_(why);
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED, why);
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;  // decided synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  std::shared_ptr<const RevocationList> list_;
  std::function<void(const std::string&)> on_revoked_;
};

}  // namespace

std::shared_ptr<grpc::ServerCredentials> MakeReloadingServerCredentials(
    const ServerTlsOptions& o) {
  namespace gx = grpc::experimental;
  auto provider = std::make_shared<gx::FileWatcherCertificateProvider>(
      o.files.key, o.files.cert, o.files.ca_cert, o.refresh_interval_sec);
  gx::TlsServerCredentialsOptions opts(provider);
  opts.watch_root_certs();
  opts.watch_identity_key_cert_pairs();
  opts.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  // gRPC 1.51's C++ API has no set_min_tls_version: its TLS credentials default to a TLS 1.2
  // minimum (TLS 1.3 maximum), which tests check by offering TLS 1.1.
  opts.set_certificate_verifier(
      gx::ExternalCertificateVerifier::Create<RevocationVerifier>(o.revocations, o.on_revoked));
  return gx::TlsServerCredentials(opts);
}

std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsMaterial& m) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = m.ca_pem;
  opts.pem_private_key = m.key_pem;
  opts.pem_cert_chain = m.cert_pem;
  return grpc::SslCredentials(opts);
}

namespace {

bool IsHostName(const std::string& s) {
  if (s.empty() || s.size() > 253 || s.front() == '.' || s.front() == '-') return false;
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

PeerIdentity IdentifyPeer(const grpc::AuthContext& auth) {
  PeerIdentity id;
  if (!auth.IsPeerAuthenticated()) return id;
  constexpr size_t kPrefixLen = sizeof kOperatorUriPrefix - 1;
  for (const auto& v : auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    const std::string uri(v.data(), v.size());
    if (uri.compare(0, kPrefixLen, kOperatorUriPrefix) == 0 && uri.size() > kPrefixLen) {
      id.role = PeerRole::kOperator;
      id.name = uri.substr(kPrefixLen);
      return id;
    }
  }
  // Only DNS SANs name hosts; one that reads as an IP address names an address, not a host.
  for (const auto& v : auth.FindPropertyValues(GRPC_PEER_DNS_PROPERTY_NAME)) {
    std::string s(v.data(), v.size());
    if (IsHostName(s) && !LooksLikeIpAddress(s)) {
      id.role = PeerRole::kAgent;
      id.name = std::move(s);
      return id;
    }
  }
  return id;
}

int64_t PeerCertificateNotAfterUnix(const grpc::AuthContext& auth) {
  if (!auth.IsPeerAuthenticated()) return 0;
  for (const auto& v : auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)) {
    auto t = CertificateNotAfterUnix(std::string(v.data(), v.size()));
    if (t.ok()) return *t;
  }
  return 0;
}

bool PeerCertificateRevoked(const grpc::AuthContext& auth, const RevocationList& revocations,
                            std::string* why) {
  const std::vector<grpc::string_ref> pem =
      auth.FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pem.empty()) {
    *why = "the peer presented no certificate to check";
    return true;
  }
  return revocations.IsRevoked(std::string(pem[0].data(), pem[0].size()), why);
}

std::string PeerHostName(const grpc::AuthContext& auth) {
  PeerIdentity id = IdentifyPeer(auth);
  return id.role == PeerRole::kAgent ? id.name : std::string();
}

}  // namespace portwatch
