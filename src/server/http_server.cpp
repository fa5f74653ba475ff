#include "server/http_server.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace llmr::server {

const char* http_status_text(int s) {
  switch (s) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
  }
}

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool is_token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || std::strchr("!#$%&'*+-.^_`|~", c);
}

}  // namespace

bool parse_request_head(const std::string& head, HttpRequest& req) {
  size_t line_end = head.find("\r\n");
  std::string first = head.substr(0, line_end);
  size_t sp1 = first.find(' '), sp2 = first.rfind(' ');
  if (sp1 == std::string::npos || sp2 == sp1) return false;
  req.method = first.substr(0, sp1);
  req.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  req.version = first.substr(sp2 + 1);
  if (req.method.empty() || !std::all_of(req.method.begin(), req.method.end(), is_token_char)) return false;
  if (req.target.empty() || req.target[0] != '/' || req.target.find(' ') != std::string::npos) return false;
  if (req.version != "HTTP/1.1" && req.version != "HTTP/1.0") return false;
  size_t q = req.target.find('?');
  req.path = req.target.substr(0, q);
  req.query = q == std::string::npos ? "" : req.target.substr(q + 1);
  size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string::npos) e = head.size();
    std::string line = head.substr(pos, e - pos);
    pos = e + 2;
    if (line.empty()) break;
    size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    std::string name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), is_token_char)) return false;
    req.headers[lower(name)] = trim(line.substr(colon + 1));
  }
  return true;
}

std::string HttpResponder::head(int status, const std::string& content_type,
                                 const std::vector<std::pair<std::string, std::string>>& h, bool chunked,
                                 size_t length) {
  std::string s = "HTTP/1.1 " + std::to_string(status) + " " + http_status_text(status) + "\r\n";
  if (!content_type.empty()) s += "Content-Type: " + content_type + "\r\n";
  s += chunked ? std::string("Transfer-Encoding: chunked\r\n") : "Content-Length: " + std::to_string(length) + "\r\n";
  s += keep_alive_ ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (auto& [k, v] : extra_headers_) s += k + ": " + v + "\r\n";
  for (auto& [k, v] : h) s += k + ": " + v + "\r\n";
  return s + "\r\n";
}

bool HttpResponder::write_all(const std::string& data) {
  if (failed_) return false;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {  // closed, reset, or SO_SNDTIMEO passed: the client is not reading
      failed_ = true;
      return false;
    }
    off += size_t(n);
  }
  return true;
}

bool HttpResponder::send(int status, const std::string& content_type, const std::string& body,
                         const std::vector<std::pair<std::string, std::string>>& headers) {
  if (started_) return false;
  started_ = true;
  status_ = status;
  return write_all(head(status, content_type, headers, false, body.size()) + body);
}

bool HttpResponder::begin_stream(int status, const std::string& content_type) {
  if (started_) return false;
  started_ = true;
  status_ = status;
  return write_all(head(status, content_type, {{"Cache-Control", "no-cache"}}, true, 0));
}

bool HttpResponder::write_chunk(const std::string& data) {
  if (data.empty()) return !failed_;
  char size[20];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  return write_all(size + data + "\r\n");
}

bool HttpResponder::end_stream() { return write_all("0\r\n\r\n"); }

bool HttpResponder::client_gone() {
  if (failed_) return true;
  pollfd p{fd_, POLLIN | POLLRDHUP, 0};
  if (::poll(&p, 1, 0) <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLRDHUP)) return true;
  if (p.revents & POLLIN) {  // data or EOF: a pipelined request is data, EOF means gone
    char c;
    ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0;
  }
  return false;
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {}

HttpServer::~HttpServer() { stop(); }

int HttpServer::start() {
  addrinfo hints{}, *res = nullptr;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  const std::string port = std::to_string(options_.port);
  int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &res);
  check(rc == 0, "--host " + options_.host + ": " + gai_strerror(rc));
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (fd < 0 || ::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, 256) != 0) {
    std::string why = std::strerror(errno);
    ::freeaddrinfo(res);
    if (fd >= 0) ::close(fd);
    throw Error("cannot listen on " + options_.host + ":" + port + ": " + why);
  }
  ::freeaddrinfo(res);
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int bound = addr.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port)
                                         : ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  listen_fd_ = fd;
  acceptor_ = std::thread([this] { accept_loop(); });
  return bound;
}

void HttpServer::stop() {
  if (stopping_.exchange(true)) return;
  if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);
  if (acceptor_.joinable()) acceptor_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  {
    std::lock_guard lock(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  // Connection threads hold `this`; wait for them (they end once their sockets are shut down).
  for (int i = 0; i < 1000 && connections_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void HttpServer::wait() {
  while (!stopping_.load()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
}

void HttpServer::accept_loop() {
  while (!stopping_.load()) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE || errno == ENFILE) {
        if (errno == EMFILE || errno == ENFILE) std::this_thread::sleep_for(std::chrono::milliseconds(50));
        continue;
      }
      break;
    }
    if (connections_.load() >= options_.max_connections) {
      static const char busy[] =
          "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      (void)!::send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
      ::close(fd);
      continue;
    }
    timeval rt{options_.read_timeout_s, 0}, wt{options_.write_timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rt, sizeof rt);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wt, sizeof wt);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ++connections_;
    {
      std::lock_guard lock(mu_);
      open_fds_.push_back(fd);
    }
    std::thread([this, fd] {
      serve_connection(fd);
      {
        std::lock_guard lock(mu_);
        open_fds_.erase(std::find(open_fds_.begin(), open_fds_.end(), fd));
      }
      ::close(fd);
      --connections_;
    }).detach();
  }
}

void HttpServer::serve_connection(int fd) {
  std::string buf;
  char tmp[16384];
  auto simple = [&](int status, const std::string& msg) {
    HttpResponder r(fd, false, {});
    r.send(status, "application/json", "{\"error\":{\"message\":\"" + msg + "\",\"type\":\"invalid_request_error\"}}");
  };
  while (!stopping_.load()) {
    // Read the head.
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (buf.size() > options_.max_header_bytes) return simple(431, "request head too large");
      ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // closed or idle past the read timeout
      buf.append(tmp, size_t(n));
    }
    HttpRequest req;
    if (!parse_request_head(buf.substr(0, head_end + 2), req)) return simple(400, "malformed request");
    buf.erase(0, head_end + 4);
    if (!req.header("transfer-encoding").empty()) return simple(411, "chunked request bodies are not supported; send Content-Length");
    size_t length = 0;
    const std::string cl = req.header("content-length");
    if (!cl.empty()) {
      if (cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), ::isdigit)) return simple(400, "bad Content-Length");
      length = std::stoull(cl);
    }
    if (length > options_.max_body_bytes)
      return simple(413, "request body of " + std::to_string(length) + " bytes is over the limit of " +
                             std::to_string(options_.max_body_bytes));
    while (buf.size() < length) {
      ssize_t n = ::recv(fd, tmp, std::min(sizeof tmp, length - buf.size()), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;
      buf.append(tmp, size_t(n));
    }
    req.body = buf.substr(0, length);
    buf.erase(0, length);
    const std::string conn = lower(req.header("connection"));
    const bool keep_alive = req.version == "HTTP/1.1" ? conn != "close" : conn == "keep-alive";
    HttpResponder res(fd, keep_alive, {});
    try {
      handler_(req, res);
    } catch (const std::exception& e) {
      if (!res.sent()) simple(500, "internal error");
      return;
    }
    if (!res.sent()) res.send(500, "application/json", "{\"error\":\"no response\"}");
    if (!keep_alive || res.failed()) return;
  }
}

}  // namespace llmr::server
