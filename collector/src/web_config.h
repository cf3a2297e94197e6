// The web config file of the collector's HTTP endpoints (/metrics and the status page), in the
// format Prometheus exporters read with --web.config.file: optional TLS, optionally with client
// certificates, and optional basic auth with bcrypt-hashed passwords. Also the HTTP server's
// thread and timeout settings, which keep slow or idle clients from starving a scrape.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "portwatch/status.h"

namespace portwatch::collector {

/// How much a TLS client must prove (the exporters' client_auth_type values).
enum class ClientAuth {
  kNoClientCert,                ///< no certificate is asked for
  kRequestClientCert,           ///< asked for, not required, not verified
  kRequireAnyClientCert,        ///< required, not verified
  kVerifyClientCertIfGiven,     ///< not required, verified against client_ca_file when sent
  kRequireAndVerifyClientCert,  ///< required and verified against client_ca_file
};

struct TlsServerConfig {
  std::string cert_file;       ///< server certificate chain (PEM), resolved against the file's dir
  std::string key_file;        ///< its private key (PEM)
  std::string client_ca_file;  ///< CA bundle that client certificates are verified against
  ClientAuth client_auth = ClientAuth::kNoClientCert;
  int min_version = 0x0303;  ///< TLS protocol version number (0x0303 TLS 1.2, 0x0304 TLS 1.3)
  int max_version = 0x0304;
};

struct WebConfig {
  std::string path;  ///< the file it came from ("" when no file was given: plain HTTP, no auth)
  std::optional<TlsServerConfig> tls;
  std::map<std::string, std::string> basic_auth_users;  ///< user name -> bcrypt hash
};

/// Parses web config YAML. `file` names the file in error messages; relative paths in it are
/// resolved against `base_dir`. Unknown fields are errors, as they are for the exporters, so a
/// misspelt key never silently leaves the endpoint open.
Expected<WebConfig> ParseWebConfig(const std::string& yaml, const std::string& file,
                                   const std::string& base_dir);

/// Reads and parses `path` ("" gives the empty config: plain HTTP without authentication).
Expected<WebConfig> LoadWebConfig(const std::string& path);

/// Checks HTTP basic credentials against bcrypt hashes. bcrypt is slow on purpose (tens of
/// milliseconds), so a credential that verified once is remembered by its SHA-256 and the next
/// scrape costs a hash lookup; wrong ones pay the full cost every time. Thread-safe.
class BasicAuth {
 public:
  explicit BasicAuth(std::map<std::string, std::string> users);
  /// True when no users are configured (every request passes) or when `authorization` (the
  /// Authorization header's value, "Basic base64(user:password)") names a user whose hash the
  /// password matches.
  bool Allows(const std::string& authorization) const;
  bool enabled() const { return !users_.empty(); }

 private:
  bool Verify(const std::string& user, const std::string& password) const;
  std::map<std::string, std::string> users_;
  mutable std::mutex mu_;
  mutable std::set<std::string> verified_;  // user + '\0' + SHA-256(password), guarded by mu_
};

/// True when `password` matches the bcrypt (or other crypt(3)) `hash`.
bool CryptMatches(const std::string& password, const std::string& hash);

/// The HTTP servers' threads and timeouts.
struct WebOptions {
  int threads = 16;              ///< concurrent requests served (idle clients hold one each)
  int request_timeout_s = 10;    ///< a client that has not sent its request by then is dropped
  int keep_alive_timeout_s = 5;  ///< an idle kept-alive connection is closed after this
  size_t max_request_bytes = 4096;
};

}  // namespace portwatch::collector
