// The one factory for TLS credentials, server and client alike. Certificates are checked with
// OpenSSL when loaded, so a wrong file fails at start with a clear message instead of as an opaque
// handshake error later.
#pragma once

#include <grpcpp/security/auth_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "portwatch/revocation.h"
#include "portwatch/status.h"

namespace portwatch {

/// Paths of the PEM files one side presents. `cert` and `key` may both be empty on a client only
/// to test that the collector refuses it.
struct TlsFiles {
  std::string ca_cert;  ///< the fleet CA that signs every agent and the collector
  std::string cert;     ///< this side's certificate
  std::string key;      ///< this side's private key
};

/// PEM contents, validated.
struct TlsMaterial {
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::string subject_name;  ///< the certificate's first DNS SAN, else its CN
};

/// Reads and checks the files: each exists and parses, the key matches the certificate, the
/// certificate is within its validity period and is signed by the CA.
Expected<TlsMaterial> LoadTlsMaterial(const TlsFiles& files);

/// Server credentials that require a client certificate signed by the CA (mutual TLS).
std::shared_ptr<grpc::ServerCredentials> MakeServerCredentials(const TlsMaterial& m);

/// How the collector's TLS follows its files while it runs.
struct ServerTlsOptions {
  TlsFiles files;
  /// gRPC re-reads the key, the certificate and the CA bundle this often and uses what changed
  /// for new handshakes; established connections keep theirs.
  unsigned refresh_interval_sec = 30;
  /// Peers whose certificate it lists are refused in the handshake. Null: none are.
  std::shared_ptr<const RevocationList> revocations;
  /// Called (on a gRPC thread) for each peer refused as revoked, with the reason.
  std::function<void(const std::string&)> on_revoked;
};

/// Server credentials like MakeServerCredentials's (mutual TLS, client certificate signed by the
/// CA, TLS 1.2 at least) that follow the files on disk and refuse revoked client certificates.
std::shared_ptr<grpc::ServerCredentials> MakeReloadingServerCredentials(
    const ServerTlsOptions& options);

/// Client credentials presenting the certificate (if any) and trusting only the CA.
std::shared_ptr<grpc::ChannelCredentials> MakeChannelCredentials(const TlsMaterial& m);

/// Operator certificates carry a URI subject alternative name with this prefix followed by the
/// operator's name ("urn:portwatch:operator:alice"). Hosts are named only by DNS SANs, so the two
/// kinds cannot be confused by name: a certificate for a host called "portwatchctl" is an agent.
inline constexpr char kOperatorUriPrefix[] = "urn:portwatch:operator:";

/// What a verified peer certificate may do.
enum class PeerRole { kNone, kAgent, kOperator };

struct PeerIdentity {
  PeerRole role = PeerRole::kNone;
  std::string name;  ///< kAgent: the host name; kOperator: the operator name
};

/// The role of a verified peer, from its certificate alone:
///  - kOperator: it has an operator URI SAN (see kOperatorUriPrefix), whatever else it has;
///  - kAgent: otherwise, its first DNS SAN that is a valid host name (letters, digits, '-', '_',
///    '.'; not an IP address). URI, e-mail and IP SANs and the common name never name a host;
///  - kNone: neither, or no verified certificate.
/// Agents also need the clientAuth extended key usage, which the TLS handshake checks.
PeerIdentity IdentifyPeer(const grpc::AuthContext& auth);

/// The notAfter (Unix seconds) of a verified peer's certificate, 0 if there is none.
int64_t PeerCertificateNotAfterUnix(const grpc::AuthContext& auth);

/// True when the peer's certificate is one `revocations` lists (or there is no certificate to
/// check: a peer without one cannot be shown not to be revoked). `why` gets a sentence for the
/// log naming the serial. The ingest streams and the query calls both ask this.
bool PeerCertificateRevoked(const grpc::AuthContext& auth, const RevocationList& revocations,
                            std::string* why);

/// The host name of a verified agent peer (IdentifyPeer's name for kAgent), else empty.
std::string PeerHostName(const grpc::AuthContext& auth);

}  // namespace portwatch
