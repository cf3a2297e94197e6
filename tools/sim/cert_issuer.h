// Issues agent certificates in-process from the fleet's (development) CA, so a simulator of
// thousands of hosts gives each its own identity without thousands of openssl runs. All hosts
// share one EC P-256 key: the collector identifies a host by its certificate, not its key.
#pragma once

#include <memory>
#include <string>

#include "portwatch/status.h"

namespace portwatch::sim {

class CertIssuer {
 public:
  /// Loads the CA certificate and key (PEM files) and makes the shared host key.
  static Expected<std::unique_ptr<CertIssuer>> Open(const std::string& ca_cert_path,
                                                    const std::string& ca_key_path);
  ~CertIssuer();
  CertIssuer(const CertIssuer&) = delete;
  CertIssuer& operator=(const CertIssuer&) = delete;

  /// A client certificate for `host` as the fleet tooling issues agents: DNS SAN = host, CN =
  /// host, extendedKeyUsage clientAuth, valid for `days`. PEM.
  Expected<std::string> Issue(const std::string& host, int days = 2);
  const std::string& ca_pem() const { return ca_pem_; }
  const std::string& key_pem() const { return key_pem_; }

 private:
  struct Impl;
  explicit CertIssuer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string ca_pem_;
  std::string key_pem_;
};

}  // namespace portwatch::sim
