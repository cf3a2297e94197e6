#include "src/web_config.h"

#include <crypt.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace portwatch::collector {
namespace {

// The exporters' fields this collector does not implement; naming them beats "unknown field".
const std::set<std::string> kUnsupportedTls = {"cert",
                                               "key",
                                               "client_ca",
                                               "cipher_suites",
                                               "curve_preferences",
                                               "prefer_server_cipher_suites",
                                               "client_allowed_sans"};

std::string Where(const std::string& file, const std::string& field) {
  return "--web-config-file " + file + ": " + field;
}

Status CheckKeys(const YAML::Node& map, const std::set<std::string>& known,
                 const std::set<std::string>& unsupported, const std::string& file,
                 const std::string& prefix) {
  for (const auto& kv : map) {
    const std::string key = kv.first.as<std::string>();
    if (known.count(key)) continue;
    if (unsupported.count(key)) {
      return Status::Error(Where(file, prefix + key) +
                           " is not supported by portwatch-collector; remove it");
    }
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    return Status::Error(Where(file, prefix + key) + " is not a known field (known: " + list +
                         "); check its spelling");
  }
  return Status::Ok();
}

Expected<std::string> Scalar(const YAML::Node& map, const std::string& key, const std::string& file,
                             const std::string& field) {
  const YAML::Node n = map[key];
  if (!n) return std::string();
  if (!n.IsScalar()) return Status::Error(Where(file, field) + " must be a string");
  return n.as<std::string>();
}

std::string Resolve(const std::string& path, const std::string& base_dir) {
  if (path.empty() || base_dir.empty() || std::filesystem::path(path).is_absolute()) return path;
  return (std::filesystem::path(base_dir) / path).string();
}

Expected<int> TlsVersion(const std::string& s, const std::string& file, const std::string& field,
                         int dflt) {
  if (s.empty()) return dflt;
  if (s == "TLS12") return 0x0303;
  if (s == "TLS13") return 0x0304;
  if (s == "TLS10" || s == "TLS11") {
    return Status::Error(Where(file, field) + " " + s +
                         " is below portwatch's minimum of TLS 1.2; use TLS12 or TLS13");
  }
  return Status::Error(Where(file, field) + " '" + s +
                       "' is not a TLS version; use TLS12 or TLS13");
}

Expected<ClientAuth> ClientAuthOf(const std::string& s, const std::string& file) {
  static const std::map<std::string, ClientAuth> kNames = {
      {"", ClientAuth::kNoClientCert},
      {"NoClientCert", ClientAuth::kNoClientCert},
      {"RequestClientCert", ClientAuth::kRequestClientCert},
      {"RequireAnyClientCert", ClientAuth::kRequireAnyClientCert},
      {"VerifyClientCertIfGiven", ClientAuth::kVerifyClientCertIfGiven},
      {"RequireAndVerifyClientCert", ClientAuth::kRequireAndVerifyClientCert}};
  auto it = kNames.find(s);
  if (it == kNames.end()) {
    return Status::Error(Where(file, "tls_server_config.client_auth_type") + " '" + s +
                         "' is not one of NoClientCert, RequestClientCert, RequireAnyClientCert, "
                         "VerifyClientCertIfGiven, RequireAndVerifyClientCert");
  }
  return it->second;
}

Expected<TlsServerConfig> ParseTls(const YAML::Node& n, const std::string& file,
                                   const std::string& base_dir) {
  if (!n.IsMap()) return Status::Error(Where(file, "tls_server_config") + " must be a mapping");
  Status st = CheckKeys(
      n,
      {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version", "max_version"},
      kUnsupportedTls, file, "tls_server_config.");
  if (!st.ok()) return st;
  TlsServerConfig tls;
  std::string fields[6];
  const char* names[6] = {"cert_file",        "key_file",    "client_ca_file",
                          "client_auth_type", "min_version", "max_version"};
  for (int i = 0; i < 6; ++i) {
    auto v = Scalar(n, names[i], file, std::string("tls_server_config.") + names[i]);
    if (!v.ok()) return Status::Error(v.error());
    fields[i] = *v;
  }
  if (fields[0].empty() || fields[1].empty()) {
    return Status::Error(Where(file, "tls_server_config") +
                         " needs both cert_file and key_file (the endpoint's certificate and key)");
  }
  tls.cert_file = Resolve(fields[0], base_dir);
  tls.key_file = Resolve(fields[1], base_dir);
  tls.client_ca_file = Resolve(fields[2], base_dir);
  auto auth = ClientAuthOf(fields[3], file);
  if (!auth.ok()) return Status::Error(auth.error());
  tls.client_auth = *auth;
  const bool verifies = tls.client_auth == ClientAuth::kVerifyClientCertIfGiven ||
                        tls.client_auth == ClientAuth::kRequireAndVerifyClientCert;
  if (verifies && tls.client_ca_file.empty()) {
    return Status::Error(Where(file, "tls_server_config.client_ca_file") +
                         " is required when "
                         "client_auth_type is " +
                         fields[3] + ": name the CA that signs the scrapers' certificates");
  }
  auto min = TlsVersion(fields[4], file, "tls_server_config.min_version", 0x0303);
  if (!min.ok()) return Status::Error(min.error());
  auto max = TlsVersion(fields[5], file, "tls_server_config.max_version", 0x0304);
  if (!max.ok()) return Status::Error(max.error());
  if (*max < *min) {
    return Status::Error(Where(file, "tls_server_config.max_version") +
                         " is below min_version; raise it or remove it");
  }
  tls.min_version = *min;
  tls.max_version = *max;
  return tls;
}

// A bcrypt hash is "$2a$", "$2b$" or "$2y$", a two-digit cost, "$" and 53 characters of salt and
// digest.
bool LooksLikeBcrypt(const std::string& h) {
  if (h.size() != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$') return false;
  if (h[2] != 'a' && h[2] != 'b' && h[2] != 'y') return false;
  return std::isdigit(static_cast<unsigned char>(h[4])) &&
         std::isdigit(static_cast<unsigned char>(h[5]));
}

// crypt(3) refuses a malformed setting with a string starting with '*'.
bool CryptAccepts(const std::string& hash) {
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  const char* out = crypt_r("", hash.c_str(), &data);
  return out && out[0] != '*';
}

}  // namespace

Expected<WebConfig> ParseWebConfig(const std::string& yaml, const std::string& file,
                                   const std::string& base_dir) {
  WebConfig cfg;
  cfg.path = file;
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return Status::Error("--web-config-file " + file + ": not valid YAML (line " +
                         std::to_string(e.mark.line + 1) + "): " + e.msg);
  }
  if (root.IsNull()) return cfg;  // an empty file: no TLS, no auth (as for the exporters)
  if (!root.IsMap()) {
    return Status::Error("--web-config-file " + file +
                         ": must be a mapping with tls_server_config and/or basic_auth_users");
  }
  try {
    Status st = CheckKeys(root, {"tls_server_config", "basic_auth_users"},
                          {"http_server_config", "rate_limit"}, file, "");
    if (!st.ok()) return st;
    if (const YAML::Node tls = root["tls_server_config"]; tls && !tls.IsNull()) {
      auto parsed = ParseTls(tls, file, base_dir);
      if (!parsed.ok()) return Status::Error(parsed.error());
      cfg.tls = *parsed;
    }
    if (const YAML::Node users = root["basic_auth_users"]; users && !users.IsNull()) {
      if (!users.IsMap()) {
        return Status::Error(Where(file, "basic_auth_users") +
                             " must map user names to bcrypt hashes");
      }
      for (const auto& kv : users) {
        const std::string user = kv.first.as<std::string>();
        const std::string field = "basic_auth_users." + user;
        if (user.empty() || user.find(':') != std::string::npos) {
          return Status::Error(Where(file, "basic_auth_users") +
                               ": a user name must be non-empty and without ':'");
        }
        if (!kv.second.IsScalar()) return Status::Error(Where(file, field) + " must be a string");
        const std::string hash = kv.second.as<std::string>();
        if (!LooksLikeBcrypt(hash) || !CryptAccepts(hash)) {
          return Status::Error(Where(file, field) +
                               " is not a bcrypt hash ($2y$... or $2b$..., 60 characters); make "
                               "one with: htpasswd -nBC 10 '' | tr -d ':\\n'");
        }
        cfg.basic_auth_users[user] = hash;
      }
    }
  } catch (const YAML::Exception& e) {
    return Status::Error("--web-config-file " + file + ": " + e.msg);
  }
  return cfg;
}

Expected<WebConfig> LoadWebConfig(const std::string& path) {
  if (path.empty()) return WebConfig{};
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::Error("--web-config-file " + path + ": cannot read it (" + std::strerror(errno) +
                         "); check the path and its permissions");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseWebConfig(ss.str(), path, std::filesystem::path(path).parent_path().string());
}

bool CryptMatches(const std::string& password, const std::string& hash) {
  crypt_data data;
  std::memset(&data, 0, sizeof data);
  const char* out = crypt_r(password.c_str(), hash.c_str(), &data);
  // On a malformed setting crypt_r returns a string starting with '*', never equal to `hash`.
  if (!out || out[0] == '*') return false;
  const size_t n = std::strlen(out);
  if (n != hash.size()) return false;
  unsigned char diff = 0;  // constant time over the hash's length
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(out[i] ^ hash[i]);
  return diff == 0;
}

BasicAuth::BasicAuth(std::map<std::string, std::string> users) : users_(std::move(users)) {}

bool BasicAuth::Allows(const std::string& authorization) const {
  if (users_.empty()) return true;
  constexpr char kPrefix[] = "Basic ";
  if (authorization.size() <= 6 || authorization.size() > 1024 ||
      authorization.compare(0, 6, kPrefix) != 0) {
    return false;
  }
  const std::string b64 = authorization.substr(6);
  std::vector<unsigned char> raw(b64.size() / 4 * 3 + 3);
  const int n = EVP_DecodeBlock(raw.data(), reinterpret_cast<const unsigned char*>(b64.data()),
                                static_cast<int>(b64.size()));
  if (n < 0 || b64.size() % 4 != 0) return false;
  // EVP_DecodeBlock counts the padding's zero bytes in its length.
  size_t len = static_cast<size_t>(n);
  if (!b64.empty() && b64.back() == '=') --len;
  if (b64.size() > 1 && b64[b64.size() - 2] == '=') --len;
  const std::string decoded(reinterpret_cast<const char*>(raw.data()), len);
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  return Verify(decoded.substr(0, colon), decoded.substr(colon + 1));
}

bool BasicAuth::Verify(const std::string& user, const std::string& password) const {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(password.data()), password.size(), digest);
  const std::string key = user + '\0' + std::string(reinterpret_cast<char*>(digest), sizeof digest);
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (verified_.count(key)) return true;
  }
  auto it = users_.find(user);
  // An unknown user costs a bcrypt too, so timing does not tell which user names exist.
  static const std::string kDummy = "$2y$10$AakevkwTCFy5yZsAHUWTaOhSr9JMjrOzpMaLStWVfjwEsYizKjFmS";
  const bool ok = CryptMatches(password, it == users_.end() ? kDummy : it->second);
  if (!ok || it == users_.end()) return false;
  std::lock_guard<std::mutex> lk(mu_);
  if (verified_.size() >= 1024) verified_.clear();  // bounded: a full cache only costs re-hashing
  verified_.insert(key);
  return true;
}

}  // namespace portwatch::collector
