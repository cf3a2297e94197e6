#include "sim/cert_issuer.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <fstream>
#include <sstream>

namespace portwatch::sim {
namespace {

std::string OpensslError() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Expected<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Error(std::string("cannot read the ") + what + " '" + path +
                         "'; make a development PKI with deploy/pki/make-dev-pki.sh");
  }
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string ToPem(int (*write)(BIO*, void*), void* obj) {
  BIO* bio = BIO_new(BIO_s_mem());
  write(bio, obj);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

}  // namespace

struct CertIssuer::Impl {
  X509* ca = nullptr;
  EVP_PKEY* ca_key = nullptr;
  EVP_PKEY* host_key = nullptr;
  std::atomic<uint64_t> serial{0};
  ~Impl() {
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(host_key);
  }
};

CertIssuer::CertIssuer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CertIssuer::~CertIssuer() = default;

Expected<std::unique_ptr<CertIssuer>> CertIssuer::Open(const std::string& ca_cert_path,
                                                       const std::string& ca_key_path) {
  auto ca_pem = ReadFile(ca_cert_path, "CA certificate");
  if (!ca_pem.ok()) return ca_pem.status();
  auto key_pem = ReadFile(ca_key_path, "CA key");
  if (!key_pem.ok()) return key_pem.status();
  auto impl = std::make_unique<Impl>();
  BIO* bio = BIO_new_mem_buf(ca_pem->data(), static_cast<int>(ca_pem->size()));
  impl->ca = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (impl->ca == nullptr) {
    return Status::Error("'" + ca_cert_path + "' is not a PEM certificate: " + OpensslError());
  }
  bio = BIO_new_mem_buf(key_pem->data(), static_cast<int>(key_pem->size()));
  impl->ca_key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (impl->ca_key == nullptr) {
    return Status::Error("'" + ca_key_path + "' is not a PEM private key: " + OpensslError());
  }
  if (X509_check_private_key(impl->ca, impl->ca_key) != 1) {
    return Status::Error("'" + ca_key_path + "' is not the key of '" + ca_cert_path +
                         "'; pass the CA's own key with --ca-key");
  }
  impl->host_key = EVP_EC_gen("P-256");
  if (impl->host_key == nullptr) return Status::Error("cannot make an EC key: " + OpensslError());
  // Serials unique across runs against one CA: time-based high bits.
  impl->serial = static_cast<uint64_t>(time(nullptr)) << 24;
  std::unique_ptr<CertIssuer> issuer(new CertIssuer(std::move(impl)));
  issuer->ca_pem_ = std::move(*ca_pem);
  issuer->key_pem_ = ToPem(
      [](BIO* b, void* k) {
        return PEM_write_bio_PrivateKey(b, static_cast<EVP_PKEY*>(k), nullptr, nullptr, 0,
                                        nullptr, nullptr);
      },
      issuer->impl_->host_key);
  return issuer;
}

Expected<std::string> CertIssuer::Issue(const std::string& host, int days) {
  X509* x = X509_new();
  auto fail = [&](const std::string& what) {
    X509_free(x);
    return Status::Error("cannot issue a certificate for '" + host + "' (" + what +
                         "): " + OpensslError());
  };
  X509_set_version(x, 2);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), ++impl_->serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), static_cast<long>(days) * 86400);
  X509_set_pubkey(x, impl_->host_key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(host.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(impl_->ca));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, impl_->ca, x, nullptr, nullptr, 0);
  const std::string san = "DNS:" + host;
  const std::pair<int, const char*> exts[] = {
      {NID_basic_constraints, "critical,CA:FALSE"},
      {NID_key_usage, "critical,digitalSignature"},
      {NID_ext_key_usage, "clientAuth"},
      {NID_subject_alt_name, san.c_str()}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr) return fail("extension");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  if (X509_sign(x, impl_->ca_key, EVP_sha256()) == 0) return fail("signature");
  std::string pem = ToPem([](BIO* b, void* c) { return PEM_write_bio_X509(b, static_cast<X509*>(c)); },
                          x);
  X509_free(x);
  return pem;
}

}  // namespace portwatch::sim
