// Follows the collector's TLS files while it runs: reloads the CRL when it changes (or on
// SIGHUP), checks the certificate, key and CA bundle that gRPC picks up on its own, and exports
// their expiry dates and the reloads as metrics.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "portwatch/revocation.h"
#include "portwatch/tls.h"

namespace portwatch::collector {

class TlsFileWatcher {
 public:
  /// `crl` may be empty (no revocation list). Call Start() once before serving.
  TlsFileWatcher(TlsFiles files, std::string crl, prometheus::Registry& registry);

  /// Loads the CRL (when configured) and reads the expiry dates. An error here is a
  /// configuration error: the collector must not start with a CRL it cannot read.
  Status Start();

  /// Re-reads whatever changed since the last call (by size and modification time). A file that
  /// fails to load keeps the previous one in force; the error is logged and counted.
  void Poll();
  /// Reloads everything now (SIGHUP).
  void Reload();

  std::shared_ptr<const RevocationList> revocations() const { return crl_list_; }

  /// Called (on the thread that calls Poll or Reload) after every CRL that loaded successfully
  /// on reload, with the list now in force: the collector ends the open streams it revokes.
  void OnCrlReloaded(std::function<void(const RevocationList&)> f) { on_crl_ = std::move(f); }

 private:
  struct Stamp {
    int64_t mtime_ns = -1;
    int64_t size = -1;
    bool operator!=(const Stamp& o) const { return mtime_ns != o.mtime_ns || size != o.size; }
  };
  static Stamp StampOf(const std::string& path);
  void ReloadCrl();
  void CheckIdentity();
  void Counted(const std::string& file, bool ok);

  TlsFiles files_;
  std::string crl_path_;
  std::shared_ptr<RevocationList> crl_list_;
  std::function<void(const RevocationList&)> on_crl_;
  Stamp crl_stamp_, cert_stamp_, key_stamp_, ca_stamp_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Gauge& cert_expiry_;
  prometheus::Gauge& ca_expiry_;
  prometheus::Gauge* crl_next_update_ = nullptr;
  prometheus::Gauge* crl_revoked_ = nullptr;
};

}  // namespace portwatch::collector
