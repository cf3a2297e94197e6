#include "src/spool_record.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>

namespace portwatch::agent {
namespace {

constexpr char kMagic[4] = {'P', 'W', 'S', 'P'};
// Far above any report (a few KiB) and below anything that would hurt to allocate: a length
// beyond it can only be damage.
constexpr uint32_t kMaxBodyBytes = 16u << 20;
constexpr uint8_t kTypeReport = 1;
constexpr uint8_t kTypeConsumed = 2;
constexpr size_t kConsumedBodyBytes = 17;
constexpr char kSegmentPrefix[] = "seg-";
constexpr char kSegmentSuffix[] = ".pws";

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetLe(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Frames a body as a record: magic, length, CRC, body.
std::string Frame(const std::string& body) {
  std::string rec(kMagic, sizeof kMagic);
  PutU32(&rec, static_cast<uint32_t>(body.size()));
  PutU32(&rec, Crc32(body.data(), body.size()));
  rec += body;
  return rec;
}

// The body of the record at `data`, or nullopt when what is there is not an intact record.
std::optional<std::string_view> IntactBody(const char* data, size_t available) {
  if (available < kRecordHeaderBytes || std::memcmp(data, kMagic, sizeof kMagic) != 0) return {};
  const uint64_t len = GetLe(data + 4, 4);
  if (len == 0 || len > kMaxBodyBytes || len > available - kRecordHeaderBytes) return {};
  if (Crc32(data + kRecordHeaderBytes, len) != static_cast<uint32_t>(GetLe(data + 8, 4))) {
    return {};
  }
  return std::string_view(data + kRecordHeaderBytes, len);
}

}  // namespace

uint32_t Crc32(const void* data, size_t size, uint32_t crc) {
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::string EncodeReportRecord(const std::string& instance_id, uint64_t sequence,
                               int64_t created_unix_ms, const std::string& payload) {
  std::string body;
  body.reserve(18 + instance_id.size() + payload.size());
  body.push_back(static_cast<char>(kTypeReport));
  const size_t id_len = std::min(instance_id.size(), kMaxRecordInstanceIdBytes);
  body.push_back(static_cast<char>(id_len));
  body.append(instance_id, 0, id_len);
  PutU64(&body, sequence);
  PutU64(&body, static_cast<uint64_t>(created_unix_ms));
  body += payload;
  return Frame(body);
}

std::string EncodeConsumedRecord(uint64_t segment, uint64_t offset) {
  std::string body(1, static_cast<char>(kTypeConsumed));
  PutU64(&body, segment);
  PutU64(&body, offset);
  return Frame(body);
}

std::optional<SpoolRecord> ReadRecord(const char* data, size_t available) {
  const auto body = IntactBody(data, available);
  if (!body) return {};
  SpoolRecord r;
  r.type = static_cast<uint8_t>((*body)[0]);
  r.length = kRecordHeaderBytes + body->size();
  if (r.type == kTypeReport) {
    // An intact record too short for its type reads as unknown: the reader steps over it.
    if (body->size() < 2) return r;
    const size_t id_len = static_cast<uint8_t>((*body)[1]);
    if (body->size() < 2 + id_len + 16) return r;
    r.kind = SpoolRecord::Kind::kReport;
    r.instance_id = std::string(body->substr(2, id_len));
    r.sequence = GetLe(body->data() + 2 + id_len, 8);
    r.created_unix_ms = static_cast<int64_t>(GetLe(body->data() + 10 + id_len, 8));
    r.payload = body->substr(18 + id_len);
  } else if (r.type == kTypeConsumed) {
    if (body->size() != kConsumedBodyBytes) return r;
    r.kind = SpoolRecord::Kind::kConsumed;
    r.consumed_segment = GetLe(body->data() + 1, 8);
    r.consumed_offset = GetLe(body->data() + 9, 8);
  }
  return r;
}

size_t NextIntactRecord(const char* data, size_t size, size_t from) {
  size_t next = from;
  while (next < size) {
    const void* hit = std::memchr(data + next, kMagic[0], size - next);
    if (hit == nullptr) return size;
    next = static_cast<size_t>(static_cast<const char*>(hit) - data);
    if (IntactBody(data + next, size - next)) return next;
    ++next;
  }
  return size;
}

std::string SegmentFileName(uint64_t number) {
  char name[64];
  std::snprintf(name, sizeof name, "%s%016llu%s", kSegmentPrefix,
                static_cast<unsigned long long>(number), kSegmentSuffix);
  return name;
}

std::optional<uint64_t> ParseSegmentFileName(const std::string& n) {
  const size_t plen = sizeof kSegmentPrefix - 1, slen = sizeof kSegmentSuffix - 1;
  if (n.size() != plen + 16 + slen || n.compare(0, plen, kSegmentPrefix) != 0 ||
      n.compare(plen + 16, slen, kSegmentSuffix) != 0) {
    return {};
  }
  const std::string digits = n.substr(plen, 16);
  if (digits.find_first_not_of("0123456789") != std::string::npos) return {};
  return std::stoull(digits);
}

}  // namespace portwatch::agent
