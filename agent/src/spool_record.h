// The spool's on-disk record format, apart from the queue that uses it (spool.h describes the
// layout). Everything here is pure byte work: framing, checking and decoding records, and naming
// segment files, so it can be tested and fuzzed without a spool directory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace portwatch::agent {

/// CRC-32 as in IEEE 802.3 / zlib (reflected, polynomial 0xEDB88320). `crc` continues a previous
/// call's result.
uint32_t Crc32(const void* data, size_t size, uint32_t crc = 0);

/// Bytes before a record's body: magic, length, CRC.
constexpr size_t kRecordHeaderBytes = 12;

/// Longest instance id a record keeps (ids are 32 hex characters); longer ones are cut.
constexpr size_t kMaxRecordInstanceIdBytes = 255;

/// A report record, framed and ready to append. An instance id longer than
/// kMaxRecordInstanceIdBytes is cut to that length.
std::string EncodeReportRecord(const std::string& instance_id, uint64_t sequence,
                               int64_t created_unix_ms, const std::string& payload);

/// A consumed-position record, framed: every report before (segment, offset) is done with.
std::string EncodeConsumedRecord(uint64_t segment, uint64_t offset);

/// What one intact record holds.
struct SpoolRecord {
  enum class Kind { kReport, kConsumed, kUnknown };
  Kind kind = Kind::kUnknown;
  uint8_t type = 0;           ///< the type byte as written (for kUnknown: a newer agent's kind)
  size_t length = 0;          ///< header plus body: where the next record starts
  // kReport
  std::string instance_id;
  uint64_t sequence = 0;
  int64_t created_unix_ms = 0;
  std::string_view payload;   ///< points into the buffer given to ReadRecord
  // kConsumed
  uint64_t consumed_segment = 0;
  uint64_t consumed_offset = 0;
};

/// The intact record at `data`, or nullopt when what is there is damaged (bad magic, length or
/// CRC). An intact record of a type this version does not know, or too short for its type, is
/// kUnknown: the reader steps over it.
std::optional<SpoolRecord> ReadRecord(const char* data, size_t available);

/// Where the next intact record starts after damage at `from`, or `size` when none does.
size_t NextIntactRecord(const char* data, size_t size, size_t from);

/// "seg-NNNNNNNNNNNNNNNN.pws" for a segment number.
std::string SegmentFileName(uint64_t number);

/// The number of a segment file name, or nullopt for any other name.
std::optional<uint64_t> ParseSegmentFileName(const std::string& name);

}  // namespace portwatch::agent
