#include "format/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "core/error.h"

namespace llmr {
namespace {

std::string os_error(const std::filesystem::path& path, const char* what) {
  return path.string() + ": " + what + ": " + std::strerror(errno);
}

// Closes the descriptor on every path out of the constructor.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) throw Error(os_error(path, "cannot open"));
  struct stat st;
  if (::fstat(f.fd, &st) != 0) throw Error(os_error(path, "cannot stat"));
  check(S_ISREG(st.st_mode), path.string() + ": not a regular file");
  size_ = size_t(st.st_size);
  if (size_ == 0) return;  // mmap of length 0 is invalid; an empty file has no bytes to view
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, f.fd, 0);
  if (p == MAP_FAILED) throw Error(os_error(path, "cannot mmap"));
  data_ = static_cast<uint8_t*>(p);
  mapped_ = true;
}

MappedFile::MappedFile(const void* bytes, size_t size, std::filesystem::path name)
    : path_(std::move(name)), size_(size) {
  if (size == 0) return;
  size_t rounded = (size + 63) / 64 * 64;
  data_ = static_cast<uint8_t*>(std::aligned_alloc(64, rounded));
  check(data_ != nullptr, path_.string() + ": cannot allocate " + std::to_string(size) + " bytes");
  std::memcpy(data_, bytes, size);
}

MappedFile::~MappedFile() {
  if (!data_) return;
  if (mapped_)
    ::munmap(data_, size_);
  else
    std::free(data_);
}

}  // namespace llmr
