#pragma once
// Read-only bytes of a model file: an mmap of the file, or a private copy of an in-memory buffer.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

namespace llmr {

class MappedFile {
 public:
  // Maps the whole file read-only (MAP_PRIVATE, PROT_READ); throws Error naming the file.
  explicit MappedFile(const std::filesystem::path& path);
  // Copies size bytes into an owned, 64-byte aligned buffer; path is only a name for messages.
  MappedFile(const void* bytes, size_t size, std::filesystem::path name = "<memory>");
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path) {
    return std::make_shared<MappedFile>(path);
  }
  static std::shared_ptr<MappedFile> from_bytes(const void* bytes, size_t size,
                                                std::filesystem::path name = "<memory>") {
    return std::make_shared<MappedFile>(bytes, size, std::move(name));
  }

  // Never written through: the pages are read-only (a write faults).
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  uint8_t* data_ = nullptr;  // nullptr for an empty file
  size_t size_ = 0;
  bool mapped_ = false;      // munmap on destruction, else free
};

}  // namespace llmr
