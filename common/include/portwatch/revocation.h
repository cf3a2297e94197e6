// Certificate revocation for the collector: a CRL file, checked in the TLS handshake, reloaded
// when it changes. Also reads certificate validity dates for the expiry metrics.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "portwatch/status.h"

namespace portwatch {

/// A certificate revocation list (PEM, one or more CRLs) whose signatures were checked against
/// the CA bundle. Empty (no file configured): nothing is revoked.
class RevocationList {
 public:
  RevocationList();
  ~RevocationList();
  RevocationList(const RevocationList&) = delete;
  RevocationList& operator=(const RevocationList&) = delete;

  /// Reads `crl_path` (PEM X.509 CRLs) and checks that each one is signed by a certificate in the
  /// `ca_path` bundle. On error the previous list stays in force and the message says why.
  Status Load(const std::string& crl_path, const std::string& ca_path);

  /// True if the PEM certificate is listed as revoked by a CRL of its issuer. `why` gets a
  /// sentence for the log. A certificate that does not parse counts as revoked.
  bool IsRevoked(const std::string& cert_pem, std::string* why) const;

  /// Number of revoked serials over all loaded CRLs, and the earliest nextUpdate (Unix seconds,
  /// 0 when nothing is loaded or no CRL has one).
  size_t revoked_count() const;
  int64_t next_update_unix() const;

 private:
  struct Loaded;
  mutable std::mutex mu_;
  std::shared_ptr<const Loaded> loaded_;  // swapped whole on reload; readers keep theirs
};

/// The notAfter of the first certificate in a PEM text (Unix seconds), or an error.
Expected<int64_t> CertificateNotAfterUnix(const std::string& pem);

}  // namespace portwatch
