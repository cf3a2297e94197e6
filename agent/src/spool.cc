#include "src/spool.h"

#include "src/log.h"
#include "src/spool_record.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>

namespace portwatch::agent {
namespace {

constexpr int64_t kLogEveryMs = 60000;

}  // namespace

Spool::Spool(SpoolOptions options) : opts_(std::move(options)) {
  if (opts_.segment_bytes == 0) {
    opts_.segment_bytes = std::clamp<uint64_t>(opts_.max_bytes / 8, 4u << 10, 4u << 20);
  }
  if (!opts_.append_fn) {
    opts_.append_fn = [](SegmentFile& f, const char* data, size_t n) { return f.Append(data, n); };
  }
}

Spool::~Spool() = default;

void Spool::Log(const std::string& msg) const {
  if (opts_.log) {
    opts_.log(msg);
  } else {
    LogWarning("spool: " + msg);
  }
}

std::string Spool::SegmentPath(uint64_t number) const {
  return opts_.dir + "/" + SegmentFileName(number);
}

Expected<std::unique_ptr<Spool>> Spool::Open(SpoolOptions options, int64_t now_unix_ms) {
  std::unique_ptr<Spool> s(new Spool(std::move(options)));
  if (!s->opts_.dir.empty()) {
    Status st = s->OpenDirectory();
    if (!st.ok()) return st;
  }
  s->DropExpired(now_unix_ms);
  return s;
}

Status Spool::OpenDirectory() {
  auto lock = DirLock::Acquire(opts_.dir, "--spool-dir");
  if (!lock.ok()) return lock.status();
  lock_ = std::move(*lock);
  on_disk_ = true;
  auto names = ListDirectory(opts_.dir);
  if (!names.ok()) return names.status();
  std::vector<uint64_t> numbers;
  for (const std::string& name : *names) {
    if (auto n = ParseSegmentFileName(name)) numbers.push_back(*n);
  }
  std::sort(numbers.begin(), numbers.end());

  std::vector<Entry> loaded;
  Position consumed;
  for (uint64_t n : numbers) {
    Status st = LoadSegment(n, &loaded, &consumed);
    if (!st.ok()) return st;
  }
  consumed_ = consumed;
  consumed_written_ = consumed;
  for (Entry& e : loaded) {
    if (Position{e.segment, e.offset} < consumed_) continue;
    e.id = next_id_++;
    entries_.push_back(std::move(e));
  }
  counters_.recovered_records = entries_.size();
  // Segments left only with consumed or damaged records go now; the rest wait for their acks.
  RemoveConsumedSegments();
  Status st = StartSegment(numbers.empty() ? 1 : numbers.back() + 1);
  if (!st.ok()) return st;
  // The marker that protected the remaining records may have been in a segment just removed.
  consumed_written_ = Position{};
  WriteConsumedMarker();
  return Status::Ok();
}

Status Spool::LoadSegment(uint64_t number, std::vector<Entry>* loaded, Position* consumed) {
  const std::string path = SegmentPath(number);
  auto file = SegmentFile::OpenForReading(path);
  if (!file.ok()) return file.status();
  auto contents = file->ReadAll();
  if (!contents.ok()) return contents.status();
  const std::string& data = *contents;
  size_t pos = 0;
  while (pos < data.size()) {
    const auto record = ReadRecord(data.data() + pos, data.size() - pos);
    if (record && record->kind == SpoolRecord::Kind::kReport) {
      Entry e;
      e.instance = InternInstance(record->instance_id);
      e.sequence = record->sequence;
      e.created_unix_ms = record->created_unix_ms;
      e.on_disk = true;
      e.segment = number;
      e.offset = pos;
      e.length = record->length;
      loaded->push_back(std::move(e));
    } else if (record && record->kind == SpoolRecord::Kind::kConsumed) {
      Position p{record->consumed_segment, record->consumed_offset};
      if (*consumed < p) *consumed = p;
    } else if (record) {
      // Intact but of a kind this version does not know (written by a newer agent): step over.
      Log(path + ": skipped a record of unknown type " + std::to_string(record->type) +
          " at offset " + std::to_string(pos));
    }
    if (record) {
      pos += record->length;
      continue;
    }
    // Damage: find the next intact record and resume there.
    const size_t next = NextIntactRecord(data.data(), data.size(), pos + 1);
    ++counters_.corrupt_records_total;
    if (next >= data.size()) {
      Log(path + ": skipped " + std::to_string(data.size() - pos) + " damaged bytes at offset " +
          std::to_string(pos) +
          " to the end of the file (a write cut short by a crash or power loss, or a truncated "
          "or overwritten file); the records before it are kept");
    } else {
      Log(path + ": skipped " + std::to_string(next - pos) + " damaged bytes at offset " +
          std::to_string(pos) +
          " (torn write or disk damage); resuming at the next intact "
          "record, offset " +
          std::to_string(next));
    }
    pos = next;
  }
  segments_[number] = Segment{std::move(*file), data.size()};
  disk_bytes_ += data.size();
  return Status::Ok();
}

Status Spool::StartSegment(uint64_t number) {
  auto file = SegmentFile::Create(SegmentPath(number));
  if (!file.ok()) return file.status();
  // The new file's name must survive a power loss along with the records written into it.
  SyncDirectory(opts_.dir);
  segments_[number] = Segment{std::move(*file), 0};
  active_ = number;
  next_segment_ = number + 1;
  return Status::Ok();
}

uint32_t Spool::InternInstance(const std::string& id) {
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i] == id) return static_cast<uint32_t>(i);
  }
  instances_.push_back(id);
  return static_cast<uint32_t>(instances_.size() - 1);
}

bool Spool::WriteRecord(const std::string& record, bool sync, uint64_t* offset,
                        std::string* error) {
  if (active_ != 0 && segments_[active_].size > 0 &&
      segments_[active_].size + record.size() > opts_.segment_bytes) {
    active_ = 0;  // the full segment stays open for reading until its reports are acknowledged
    RemoveConsumedSegments();
  }
  if (active_ == 0) {
    Status st = StartSegment(next_segment_);
    if (!st.ok()) {
      *error = st.message();
      return false;
    }
  }
  Segment& seg = segments_[active_];
  size_t done = 0;
  Status failed;
  while (done < record.size() && failed.ok()) {
    auto n = opts_.append_fn(seg.file, record.data() + done, record.size() - done);
    if (!n.ok()) {
      failed = n.status();
    } else if (*n == 0) {
      failed = Status::Error("no space left for the record");
    } else {
      done += *n;
    }
  }
  if (failed.ok() && sync) failed = seg.file.Sync();
  if (!failed.ok()) {
    *error = failed.message();
    // Take back a partial record so the segment stays clean; if even that fails, abandon the
    // segment: readers skip a torn tail.
    if (!seg.file.Truncate(seg.size).ok()) active_ = 0;
    return false;
  }
  *offset = seg.size;
  seg.size += record.size();
  disk_bytes_ += record.size();
  return true;
}

void Spool::Append(const std::string& instance_id, uint64_t sequence, int64_t created_unix_ms,
                   std::string payload, int64_t now_unix_ms) {
  DropExpired(now_unix_ms);
  std::string record = EncodeReportRecord(instance_id, sequence, created_unix_ms, payload);

  if (record.size() > opts_.max_bytes) {
    ++counters_.dropped_total;
    Log("a report of " + std::to_string(record.size()) + " bytes is larger than the whole spool (" +
        std::to_string(opts_.max_bytes) + " bytes) and was dropped; raise --spool-max-bytes");
    return;
  }
  uint64_t dropped = 0;
  while (!entries_.empty() && disk_bytes_ + memory_bytes_ + record.size() > opts_.max_bytes) {
    dropped += DropOldestForBytes();
  }
  if (dropped > 0) NoteDropped(dropped, "--spool-max-bytes", now_unix_ms);

  Entry e;
  e.id = next_id_++;
  e.instance = InternInstance(instance_id.substr(0, kMaxRecordInstanceIdBytes));
  e.sequence = sequence;
  e.created_unix_ms = created_unix_ms;
  if (!opts_.dir.empty()) {
    if (!counters_.degraded || now_unix_ms >= disk_retry_at_ms_) {
      std::string error;
      uint64_t offset = 0;
      if (WriteRecord(record, opts_.sync, &offset, &error)) {
        if (counters_.degraded) {
          counters_.degraded = false;
          Log("writing to '" + opts_.dir + "' again; " + std::to_string(memory_records_) +
              " reports kept in memory meanwhile stay there until acknowledged");
        }
        e.on_disk = true;
        e.segment = active_;
        e.offset = offset;
        e.length = record.size();
        entries_.push_back(std::move(e));
        FinishConsuming();
        return;
      }
      if (!counters_.degraded || now_unix_ms - last_failure_log_ms_ >= kLogEveryMs) {
        Log("cannot write to '" + opts_.dir + "' (" + error + "); keeping reports in memory (at " +
            "most " + std::to_string(opts_.max_memory_records) + ", then the oldest are " +
            "dropped) and trying the disk again every " +
            std::to_string(opts_.disk_retry_ms / 1000) + " s (reports not written so far: " +
            std::to_string(counters_.write_failures_total + 1) + "). Free space on that disk");
        last_failure_log_ms_ = now_unix_ms;
      }
      counters_.degraded = true;
      disk_retry_at_ms_ = now_unix_ms + opts_.disk_retry_ms;
    }
    ++counters_.write_failures_total;
  }
  e.payload = std::move(payload);
  memory_bytes_ += e.payload.size();
  ++memory_records_;
  entries_.push_back(std::move(e));
  dropped = 0;
  while (memory_records_ > opts_.max_memory_records) {
    auto it =
        std::find_if(entries_.begin(), entries_.end(), [](const Entry& x) { return !x.on_disk; });
    memory_bytes_ -= it->payload.size();
    --memory_records_;
    entries_.erase(it);
    ++counters_.dropped_total;
    ++dropped;
  }
  if (dropped > 0) NoteDropped(dropped, "the memory bound", now_unix_ms);
}

uint64_t Spool::DropOldestForBytes() {
  const Entry& front = entries_.front();
  if (!front.on_disk) {
    PopFront(true);
    return 1;
  }
  // Disk space comes back a segment at a time: drop every report up to the end of the oldest.
  const uint64_t seg = front.segment;
  uint64_t n = 0;
  while (!entries_.empty() && (!entries_.front().on_disk || entries_.front().segment == seg)) {
    PopFront(true);
    ++n;
  }
  if (seg == active_) active_ = 0;  // the next write starts a new segment
  FinishConsuming();
  return n;
}

void Spool::NoteDropped(uint64_t n, const char* bound, int64_t now_unix_ms) {
  dropped_since_log_ += n;
  if (now_unix_ms - last_drop_log_ms_ < kLogEveryMs) return;
  Log("dropped the " + std::to_string(dropped_since_log_) +
      " oldest unacknowledged reports to stay within " + bound + " (" +
      std::to_string(counters_.dropped_total) +
      " since start); the collector has not acknowledged them. Check the collector, or raise the "
      "bound");
  dropped_since_log_ = 0;
  last_drop_log_ms_ = now_unix_ms;
}

void Spool::PopFront(bool dropped) {
  Entry& e = entries_.front();
  if (e.on_disk) {
    Position end{e.segment, e.offset + e.length};
    if (consumed_ < end) consumed_ = end;
  } else {
    memory_bytes_ -= e.payload.size();
    --memory_records_;
  }
  if (dropped) ++counters_.dropped_total;
  entries_.pop_front();
}

void Spool::FinishConsuming() {
  RemoveConsumedSegments();
  WriteConsumedMarker();
}

void Spool::RemoveConsumedSegments() {
  uint64_t oldest_live = std::numeric_limits<uint64_t>::max();
  for (const Entry& e : entries_) {
    if (e.on_disk) {
      oldest_live = e.segment;
      break;
    }
  }
  for (auto it = segments_.begin(); it != segments_.end() && it->first < oldest_live;) {
    if (active_ != 0 && it->first == active_) {  // numbers we create start at 1
      ++it;
      continue;
    }
    RemoveFile(it->second.file.path());
    disk_bytes_ -= it->second.size;
    it = segments_.erase(it);
  }
}

void Spool::WriteConsumedMarker() {
  if (!on_disk_ || counters_.degraded || !(consumed_written_ < consumed_)) return;
  // A marker matters only while a segment holding consumed reports is still on disk.
  if (segments_.empty() || consumed_.segment < segments_.begin()->first) return;
  std::string error;
  uint64_t offset = 0;
  // Not synced: a lost marker only means a few acknowledged reports are sent again, and the
  // collector recognises those as duplicates.
  if (WriteRecord(EncodeConsumedRecord(consumed_.segment, consumed_.offset), false, &offset,
                  &error)) consumed_written_ = consumed_;
}

bool Spool::Acknowledge(const std::string& instance_id, uint64_t sequence) {
  auto inst = std::find(instances_.begin(), instances_.end(), instance_id);
  if (inst == instances_.end()) return false;
  const uint32_t idx = static_cast<uint32_t>(inst - instances_.begin());
  auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) {
    return e.instance == idx && e.sequence == sequence;
  });
  if (it == entries_.end()) return false;
  const uint64_t through = it->id;
  while (!entries_.empty() && entries_.front().id <= through) PopFront(false);
  FinishConsuming();
  return true;
}

void Spool::DropExpired(int64_t now_unix_ms) {
  if (opts_.max_age_ms <= 0) return;
  const int64_t cutoff = now_unix_ms - opts_.max_age_ms;
  uint64_t n = 0;
  while (!entries_.empty() && entries_.front().created_unix_ms < cutoff) {
    PopFront(true);
    ++n;
  }
  if (n == 0) return;
  FinishConsuming();
  NoteDropped(n, "--spool-max-age", now_unix_ms);
}

std::optional<SpoolEntry> Spool::Next(uint64_t after_id) {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), after_id,
                             [](uint64_t id, const Entry& e) { return id < e.id; });
  while (it != entries_.end()) {
    SpoolEntry out;
    out.id = it->id;
    out.instance_id = instances_[it->instance];
    out.sequence = it->sequence;
    out.created_unix_ms = it->created_unix_ms;
    if (!it->on_disk) {
      out.payload = it->payload;
      return out;
    }
    std::string rec(it->length, '\0');
    Status read = segments_[it->segment].file.ReadAt(it->offset, rec.data(), rec.size());
    std::optional<SpoolRecord> record;
    if (read.ok()) record = ReadRecord(rec.data(), rec.size());
    if (record && record->kind == SpoolRecord::Kind::kReport && record->sequence == it->sequence) {
      out.payload = std::string(record->payload);
      return out;
    }
    ++counters_.corrupt_records_total;
    Log(SegmentPath(it->segment) + ": the report at offset " + std::to_string(it->offset) +
        " can no longer be read (" + (read.ok() ? std::string("damaged on disk") : read.message()) +
        "); skipped");
    if (it == entries_.begin()) {
      PopFront(false);  // lets the consumed position, and so the segment's removal, move on
      FinishConsuming();
      it = entries_.begin();
    } else {
      it = entries_.erase(it);
    }
  }
  return std::nullopt;
}

SpoolStats Spool::stats() const {
  SpoolStats s = counters_;
  s.records = entries_.size();
  s.bytes = disk_bytes_ + memory_bytes_;
  s.memory_records = memory_records_;
  return s;
}

std::vector<std::string> Spool::WaitingInstances() const {
  std::vector<std::string> out;
  for (const Entry& e : entries_) {
    const std::string& id = instances_[e.instance];
    if (std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  }
  return out;
}

}  // namespace portwatch::agent
