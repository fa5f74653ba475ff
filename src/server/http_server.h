#pragma once
// A small HTTP/1.1 server on POSIX sockets: keep-alive, Content-Length request bodies with a size
// limit, chunked streaming responses, socket timeouts, one thread per connection (bounded).
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmr::server {

struct HttpRequest {
  std::string method, target, path, query, version;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Writes one response: either whole (send) or streamed (begin_stream, then write_chunk, end_stream).
// Writes return false once the client is gone or too slow (send timeout); the caller then stops.
class HttpResponder {
 public:
  HttpResponder(int fd, bool keep_alive, std::vector<std::pair<std::string, std::string>> extra_headers)
      : fd_(fd), keep_alive_(keep_alive), extra_headers_(std::move(extra_headers)) {}

  bool send(int status, const std::string& content_type, const std::string& body,
            const std::vector<std::pair<std::string, std::string>>& headers = {});
  bool begin_stream(int status, const std::string& content_type);
  bool write_chunk(const std::string& data);
  bool end_stream();
  // True when the peer has closed its side (checked without blocking).
  bool client_gone();

  // Adds a header to the response about to be sent (CORS).
  void add_header(std::string name, std::string value) { extra_headers_.emplace_back(std::move(name), std::move(value)); }
  bool sent() const { return started_; }
  bool failed() const { return failed_; }
  int status() const { return status_; }

 private:
  bool write_all(const std::string& data);
  std::string head(int status, const std::string& content_type, const std::vector<std::pair<std::string, std::string>>& h,
                   bool chunked, size_t length);

  int fd_;
  bool keep_alive_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  bool started_ = false, failed_ = false;
  int status_ = 0;
};

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  size_t max_body_bytes = 4 << 20;
  size_t max_header_bytes = 64 << 10;
  int max_connections = 512;
  int read_timeout_s = 30;   // idle keep-alive and slow request senders
  int write_timeout_s = 30;  // a client that stops reading
};

using HttpHandler = std::function<void(const HttpRequest&, HttpResponder&)>;

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  // Binds and listens; throws Error when the address is unusable. Returns the bound port.
  int start();
  void stop();
  // Blocks until stop() is called.
  void wait();

 private:
  void accept_loop();
  void serve_connection(int fd);

  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> open_fds_;
};

const char* http_status_text(int status);

// Parses a request head ("GET / HTTP/1.1\r\nHeader: v\r\n\r\n", without the final CRLFCRLF
// separator handling); returns false when it is malformed.
bool parse_request_head(const std::string& head, HttpRequest& req);

}  // namespace llmr::server
