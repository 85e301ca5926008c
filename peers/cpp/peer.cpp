// The proton C++ reference peer of amqp-interop.
//
// One program, one role per run, following peers/CONTRACT.md: JSON Lines on
// stdout (flushed per line), diagnostics on stderr, exit codes 0/1/2/3.
//
// Build: g++ -O2 -std=c++17 peer.cpp -o peer -lqpid-proton-cpp
//
// Threading: proton runs its event loop in the main thread.  A second thread
// waits for SIGTERM/SIGINT with sigwait().  Every handler callback takes
// g_mu, so the signal thread (and the timeout job) can print a consistent
// result line and _exit() without racing the event loop.

#include <proton/binary.hpp>
#include <proton/codec/map.hpp>
#include <proton/codec/vector.hpp>
#include <proton/connection.hpp>
#include <proton/connection_options.hpp>
#include <proton/container.hpp>
#include <proton/delivery.hpp>
#include <proton/delivery_mode.hpp>
#include <proton/error.hpp>
#include <proton/error_condition.hpp>
#include <proton/listen_handler.hpp>
#include <proton/listener.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/messaging_handler.hpp>
#include <proton/receiver.hpp>
#include <proton/receiver_options.hpp>
#include <proton/reconnect_options.hpp>
#include <proton/sender.hpp>
#include <proton/sender_options.hpp>
#include <proton/source.hpp>
#include <proton/source_options.hpp>
#include <proton/symbol.hpp>
#include <proton/target.hpp>
#include <proton/target_options.hpp>
#include <proton/timestamp.hpp>
#include <proton/tracker.hpp>
#include <proton/transport.hpp>
#include <proton/types.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>
#include <proton/work_queue.hpp>
#include <proton/link.h>

#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

// ---------------------------------------------------------------- JSON ----

// Appends s to out as a JSON string literal.  Invalid UTF-8 bytes become
// U+FFFD so that the line stays parseable whatever the remote sent.
void json_string(std::string& out, const std::string& s) {
    static const char hex[] = "0123456789abcdef";
    out += '"';
    size_t i = 0, n = s.size();
    while (i < n) {
        unsigned char c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            switch (c) {
              case '"': out += "\\\""; break;
              case '\\': out += "\\\\"; break;
              case '\n': out += "\\n"; break;
              case '\r': out += "\\r"; break;
              case '\t': out += "\\t"; break;
              case '\b': out += "\\b"; break;
              case '\f': out += "\\f"; break;
              default:
                if (c < 0x20 || c == 0x7f) {
                    out += "\\u00";
                    out += hex[c >> 4];
                    out += hex[c & 0xf];
                } else {
                    out += static_cast<char>(c);
                }
            }
            ++i;
            continue;
        }
        // Multi-byte sequence: validate length, continuation bytes, ranges.
        size_t len = 0;
        uint32_t cp = 0;
        if ((c & 0xe0) == 0xc0) { len = 2; cp = c & 0x1f; }
        else if ((c & 0xf0) == 0xe0) { len = 3; cp = c & 0x0f; }
        else if ((c & 0xf8) == 0xf0) { len = 4; cp = c & 0x07; }
        bool ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; ++k) {
            unsigned char cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) ok = false;
            else cp = (cp << 6) | (cc & 0x3f);
        }
        if (ok) {
            static const uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
            if (cp < min_cp[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) ok = false;
        }
        if (ok) {
            out.append(s, i, len);
            i += len;
        } else {
            out += "\\ufffd";
            ++i;
        }
    }
    out += '"';
}

std::string quoted(const std::string& s) {
    std::string out;
    json_string(out, s);
    return out;
}

std::string hex_of(const proton::binary& b) {
    static const char hex[] = "0123456789abcdef";
    std::string out;
    for (uint8_t c : b) {
        out += hex[c >> 4];
        out += hex[c & 0xf];
    }
    return out;
}

std::string double_json(double d) {
    if (!std::isfinite(d)) return "null";
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", d);
    return buf;
}

// One JSON object, built field by field in insertion order.
class Json {
  public:
    Json& raw(const char* key, const std::string& json) {
        buf_ += first_ ? "{" : ", ";
        first_ = false;
        json_string(buf_, key);
        buf_ += ": ";
        buf_ += json;
        return *this;
    }
    Json& str(const char* key, const std::string& v) { return raw(key, quoted(v)); }
    Json& num(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
    Json& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
    Json& null(const char* key) { return raw(key, "null"); }
    std::string text() const { return first_ ? "{}" : buf_ + "}"; }

  private:
    std::string buf_;
    bool first_ = true;
};

// The contract's JSON encoding of an AMQP value: strings and numbers as is,
// maps as objects (string keys), lists as arrays, binary as hex, uuid as its
// string form, null as null.
std::string value_json(const proton::value& v);

std::string map_key_text(const proton::value& k) {
    switch (k.type()) {
      case proton::STRING: return proton::get<std::string>(k);
      case proton::SYMBOL: return proton::get<proton::symbol>(k);
      default: {
        std::string j = value_json(k);
        if (j.size() >= 2 && j.front() == '"' && j.back() == '"') return j.substr(1, j.size() - 2);
        return j;
      }
    }
}

std::string value_json(const proton::value& v) {
    try {
        switch (v.type()) {
          case proton::NULL_TYPE: return "null";
          case proton::BOOLEAN: return proton::get<bool>(v) ? "true" : "false";
          case proton::UBYTE:
          case proton::USHORT:
          case proton::UINT:
          case proton::ULONG:
          case proton::CHAR:
            return std::to_string(proton::coerce<uint64_t>(v));
          case proton::BYTE:
          case proton::SHORT:
          case proton::INT:
          case proton::LONG:
            return std::to_string(proton::coerce<int64_t>(v));
          case proton::TIMESTAMP:
            return std::to_string(proton::get<proton::timestamp>(v).milliseconds());
          case proton::FLOAT:
          case proton::DOUBLE:
            return double_json(proton::coerce<double>(v));
          case proton::UUID: return quoted(proton::get<proton::uuid>(v).str());
          case proton::BINARY: return quoted(hex_of(proton::get<proton::binary>(v)));
          case proton::STRING: return quoted(proton::get<std::string>(v));
          case proton::SYMBOL: return quoted(proton::get<proton::symbol>(v));
          case proton::LIST:
          case proton::ARRAY: {
            std::vector<proton::value> items;
            proton::get(v, items);
            std::string out = "[";
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                out += value_json(items[i]);
            }
            return out + "]";
          }
          case proton::MAP: {
            std::vector<std::pair<proton::value, proton::value> > items;
            proton::get(v, items);
            std::string out = "{";
            for (size_t i = 0; i < items.size(); ++i) {
                if (i) out += ", ";
                json_string(out, map_key_text(items[i].first));
                out += ": ";
                out += value_json(items[i].second);
            }
            return out + "}";
          }
          default:
            return quoted(proton::to_string(v));
        }
    } catch (const std::exception&) {
        return quoted(proton::to_string(v));
    }
}

std::string id_json(const proton::message_id& id) {
    if (id.empty()) return "null";
    return value_json(proton::value(id));
}

// ------------------------------------------------------------- options ----

const char* const USAGE =
    "usage: peer {hello|send|receive|serve|request} [--url URL] [--address ADDR] [--count N] "
    "[--listen] [--reconnect|--no-reconnect] [--timeout SECONDS] [--user U] [--password P] "
    "[--quiet] [--dynamic-capability SYMBOL]... [REQUEST ...]";

// The option defaults of peers/CONTRACT.md (table "Defaults", data in peers/defaults.json).
const char* const DEFAULT_URL = "amqp://127.0.0.1:5672";
const char* const DEFAULT_ADDRESS = "examples";
const double DEFAULT_TIMEOUT = 30.0;  // 0 (no deadline) for receive and serve with --count 0

// --count of a role: send and receive 100 (the tutorial's simple_send and simple_recv),
// serve 0 (until killed); -1 for hello and request, which do not use it.
long long default_count(const std::string& role) {
    if (role == "send" || role == "receive") return 100;
    if (role == "serve") return 0;
    return -1;
}

struct Options {
    std::string role;
    std::string url = DEFAULT_URL;
    std::string host;  // as given, without brackets
    std::string port;
    std::string url_user, url_password, url_path;
    std::string user, password;
    bool have_user = false, have_password = false;
    std::string address;
    bool have_address = false;
    long long count = -1;  // -1: the role's default
    bool listen = false;
    bool reconnect = true;
    double timeout = -1;  // -1: the role's default
    bool quiet = false;
    std::vector<std::string> requests;
    // --dynamic-capability: symbols on the request role's dynamic reply source
    std::vector<std::string> dynamic_capabilities;
};

struct UsageError {
    std::string text;
};

bool parse_int(const std::string& s, long long& out) {
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(s.c_str(), &end, 10);
    if (errno != 0 || *end != '\0' || v < 0) return false;
    out = v;
    return true;
}

bool parse_seconds(const std::string& s, double& out) {
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (errno != 0 || *end != '\0' || !std::isfinite(v) || v < 0) return false;
    out = v;
    return true;
}

std::string percent_decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
            std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
            out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

// amqp://[user[:password]@]host[:port][/path] -- parsed here rather than by
// proton::url so that a bad URL is a usage error before anything connects.
void parse_url(Options& o) {
    const std::string& u = o.url;
    const std::string scheme = "amqp://";
    if (u.compare(0, scheme.size(), scheme) != 0)
        throw UsageError{"error: bad URL '" + u + "': scheme must be amqp://"};
    std::string rest = u.substr(scheme.size());
    size_t slash = rest.find('/');
    if (slash != std::string::npos) {
        o.url_path = percent_decode(rest.substr(slash + 1));
        rest = rest.substr(0, slash);
    }
    size_t at = rest.rfind('@');
    if (at != std::string::npos) {
        std::string cred = rest.substr(0, at);
        rest = rest.substr(at + 1);
        size_t colon = cred.find(':');
        o.url_user = cred.substr(0, colon);
        if (colon != std::string::npos) o.url_password = cred.substr(colon + 1);
    }
    std::string host, port;
    if (!rest.empty() && rest[0] == '[') {
        size_t close = rest.find(']');
        if (close == std::string::npos) throw UsageError{"error: bad URL '" + u + "': unclosed ["};
        host = rest.substr(1, close - 1);
        std::string after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after[0] != ':') throw UsageError{"error: bad URL '" + u + "'"};
            port = after.substr(1);
        }
    } else {
        size_t colon = rest.rfind(':');
        host = rest.substr(0, colon);
        if (colon != std::string::npos) port = rest.substr(colon + 1);
        else port = "5672";
        if (colon != std::string::npos && port.empty())
            throw UsageError{"error: bad URL '" + u + "': empty port"};
    }
    if (port.empty()) port = "5672";
    if (host.empty()) throw UsageError{"error: bad URL '" + u + "': no host"};
    long long p = 0;
    if (!parse_int(port, p) || p > 65535)
        throw UsageError{"error: bad URL '" + u + "': port must be 0..65535"};
    o.host = host;
    o.port = std::to_string(p);
}

Options parse_args(int argc, char** argv) {
    Options o;
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) throw UsageError{USAGE};
    o.role = args[0];
    static const std::set<std::string> roles = {"hello", "send", "receive", "serve", "request"};
    if (o.role == "-h" || o.role == "--help") throw UsageError{USAGE};
    if (!roles.count(o.role)) throw UsageError{std::string(USAGE) + " (unknown role '" + o.role + "')"};
    bool only_positional = false;
    for (size_t i = 1; i < args.size(); ++i) {
        std::string a = args[i];
        if (only_positional || a.size() < 2 || a.compare(0, 2, "--") != 0 || a == "-") {
            if (!only_positional && a.size() > 1 && a[0] == '-' && a != "-")
                throw UsageError{std::string(USAGE) + " (unknown option '" + a + "')"};
            if (o.role != "request")
                throw UsageError{std::string(USAGE) + " (unexpected argument '" + a + "')"};
            o.requests.push_back(a);
            continue;
        }
        if (a == "--") { only_positional = true; continue; }
        std::string name = a, val;
        bool inline_val = false;
        size_t eq = a.find('=');
        if (eq != std::string::npos) {
            name = a.substr(0, eq);
            val = a.substr(eq + 1);
            inline_val = true;
        }
        auto need = [&](const std::string& opt) -> std::string {
            if (inline_val) return val;
            if (i + 1 >= args.size())
                throw UsageError{std::string(USAGE) + " (option " + opt + " needs a value)"};
            return args[++i];
        };
        auto flag = [&](const std::string& opt) {
            if (inline_val)
                throw UsageError{std::string(USAGE) + " (option " + opt + " takes no value)"};
        };
        if (name == "--url") o.url = need(name);
        else if (name == "--address") { o.address = need(name); o.have_address = true; }
        else if (name == "--count") {
            std::string v = need(name);
            if (!parse_int(v, o.count))
                throw UsageError{"error: --count must be a non-negative integer, got '" + v + "'"};
        } else if (name == "--timeout") {
            std::string v = need(name);
            if (!parse_seconds(v, o.timeout))
                throw UsageError{"error: --timeout must be a non-negative number (0: no deadline), got '" + v + "'"};
        } else if (name == "--user") { o.user = need(name); o.have_user = true; }
        else if (name == "--password") { o.password = need(name); o.have_password = true; }
        else if (name == "--listen") { flag(name); o.listen = true; }
        else if (name == "--reconnect") { flag(name); o.reconnect = true; }
        else if (name == "--no-reconnect") { flag(name); o.reconnect = false; }
        else if (name == "--quiet") { flag(name); o.quiet = true; }
        else if (name == "--dynamic-capability") {
            std::string v = need(name);
            if (v.empty()) throw UsageError{"error: --dynamic-capability must not be empty"};
            o.dynamic_capabilities.push_back(v);
        } else if (name == "--help") throw UsageError{USAGE};
        else throw UsageError{std::string(USAGE) + " (unknown option '" + name + "')"};
    }
    if (o.listen && o.role == "request")
        throw UsageError{"error: --listen is not supported for the request role"};
    if (o.count < 0) o.count = std::max(0LL, default_count(o.role));
    if (o.timeout < 0) {
        bool until_killed = (o.role == "receive" || o.role == "serve") && o.count == 0;
        o.timeout = until_killed ? 0.0 : DEFAULT_TIMEOUT;
    }
    if (o.role == "request" && o.requests.empty()) {
        o.requests = {"Twas brillig, and the slithy toves", "Did gire and gymble in the wabe.",
                      "All mimsy were the borogroves,", "And the mome raths outgrabe."};
    }
    parse_url(o);
    if (!o.have_address) o.address = o.url_path.empty() ? DEFAULT_ADDRESS : o.url_path;
    if (!o.have_user && !o.url_user.empty()) { o.user = o.url_user; o.have_user = true; }
    if (!o.have_password && !o.url_password.empty()) { o.password = o.url_password; o.have_password = true; }
    return o;
}

// The result's "options": the values this run uses, after the contract's defaults.
// url is amqp://host:port (no credentials); count is null for the roles that do not
// use it; the password is masked; requests only for the request role.
std::string options_json(const Options& o) {
    Json j;
    std::string host = o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host;
    j.str("url", "amqp://" + host + ":" + o.port).str("address", o.address);
    if (default_count(o.role) < 0) j.null("count");
    else j.num("count", o.count);
    j.boolean("listen", o.listen).boolean("reconnect", o.reconnect);
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.15g", o.timeout);
    j.raw("timeout", seconds);
    if (o.have_user) j.str("user", o.user);
    else j.null("user");
    if (o.have_password) j.str("password", "***");
    else j.null("password");
    j.boolean("quiet", o.quiet);
    if (o.role == "request") {
        std::string list = "[";
        for (size_t i = 0; i < o.requests.size(); ++i) list += (i ? ", " : "") + quoted(o.requests[i]);
        j.raw("requests", list + "]");
    } else {
        j.null("requests");
    }
    std::string caps = "[";
    for (size_t i = 0; i < o.dynamic_capabilities.size(); ++i)
        caps += (i ? ", " : "") + quoted(o.dynamic_capabilities[i]);
    j.raw("dynamic_capabilities", caps + "]");
    return j.text();
}

std::string upper(const std::string& s) {
    std::string out = s;
    for (auto& c : out)
        if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    return out;
}

bool is_integer_type(proton::type_id t) {
    switch (t) {
      case proton::UBYTE: case proton::USHORT: case proton::UINT: case proton::ULONG:
      case proton::BYTE: case proton::SHORT: case proton::INT: case proton::LONG:
        return true;
      default:
        return false;
    }
}

// ------------------------------------------------------- settle modes ----

// The C++ API has no accessor for a link's pn_link_t; object<pn_link_t>::pn_object is
// protected, and a pointer to it taken through a derived class may be applied to any sender.
struct RawLink : proton::sender {
    static pn_link_t* of(const proton::sender& s) {
        return (s.*(&RawLink::pn_object))();
    }
};

// 2.7.3: when the receiver initiates the attach, its snd-settle-mode is the mode it desires at
// the sender, and the sender SHOULD respect it. A receiver asking unsettled gets unsettled (what
// this peer's sends are anyway; go-amqp refuses any other answer); a receiver asking settled
// keeps proton's mixed, because the send role counts outcomes. The C++ API cannot read the
// remote's mode, and the build links only -lqpid-proton-cpp, so the two C functions are looked
// up in the proton core that library has already loaded. Call it on a sender the remote opened,
// after opening it: the attach goes out once the handler returns.
void answer_snd_settle_mode(const proton::sender& s) {
    using remote_fn = pn_snd_settle_mode_t (*)(pn_link_t*);
    using set_fn = void (*)(pn_link_t*, pn_snd_settle_mode_t);
    static auto remote = reinterpret_cast<remote_fn>(dlsym(RTLD_DEFAULT, "pn_link_remote_snd_settle_mode"));
    static auto set = reinterpret_cast<set_fn>(dlsym(RTLD_DEFAULT, "pn_link_set_snd_settle_mode"));
    if (remote == nullptr || set == nullptr) return;
    pn_link_t* raw = RawLink::of(s);
    if (remote(raw) == PN_SND_UNSETTLED) set(raw, PN_SND_UNSETTLED);
}

// ---------------------------------------------------------------- peer ----

std::recursive_mutex g_mu;
#define GUARD std::lock_guard<std::recursive_mutex> guard_(g_mu)

struct Outstanding {
    std::string id_json;  // for events
    uint64_t seq;         // send role: the message number, else 0
};

class Peer;

// Listener side of `hello --listen`: a one-queue-per-address echo so that the
// peer's own hello client (connected to its own listener, as the tutorial's
// helloworld_direct does) gets its message back.
class Relay : public proton::messaging_handler {
  public:
    explicit Relay(Peer& p) : peer_(p) {}
    void on_connection_open(proton::connection& c) override;
    void on_receiver_open(proton::receiver& r) override;
    void on_sender_open(proton::sender& s) override;
    void on_sendable(proton::sender& s) override;
    void on_message(proton::delivery& d, proton::message& m) override;
    void on_connection_close(proton::connection& c) override;
    void on_transport_error(proton::transport& t) override;
    void on_transport_close(proton::transport& t) override;
    void on_connection_error(proton::connection&) override {}
    void on_session_error(proton::session&) override {}
    void on_receiver_error(proton::receiver&) override {}
    void on_sender_error(proton::sender&) override {}
    void on_error(const proton::error_condition&) override {}

  private:
    void pump(const std::string& address);
    std::string link_address(const proton::sender& s) const;
    Peer& peer_;
    std::map<std::string, std::deque<proton::message> > queues_;
    std::vector<proton::sender> senders_;
};

class Peer : public proton::messaging_handler, public proton::listen_handler {
  public:
    explicit Peer(const Options& o) : o_(o), relay_(*this) {
        if (o_.role == "send") {
            transferred_.assign(o_.count + 1, 0);
            confirmed_.assign(o_.count + 1, 0);
        }
        if (o_.role == "receive" && o_.count > 0) seen_int_.assign(o_.count + 1, 0);
        for (size_t i = 0; i < o_.requests.size(); ++i) pending_requests_.push_back(i);
        waiting_ = o_.listen ? "the listener to open on " + o_.host + ":" + o_.port
                             : "the connection to " + o_.host + ":" + o_.port +
                                   " (TCP connect and the remote's AMQP open)";
    }

    int exit_code() const { return exit_code_; }
    bool result_printed() const { return result_printed_; }

    // ---- output ----
    void line(const std::string& s) {
        if (result_printed_) return;
        std::fwrite(s.data(), 1, s.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    }

    bool quiet_event(const char* name) const {
        if (!o_.quiet) return false;
        static const std::set<std::string> per_message = {"sent", "accepted", "message", "settled",
                                                          "sendable"};
        return per_message.count(name) != 0;
    }

    Json event(const char* name) {
        Json j;
        j.str("kind", "event").str("name", name);
        return j;
    }

    void emit(const char* name, Json& j) {
        if (quiet_event(name)) return;
        line(j.text());
    }

    void emit(const char* name) {
        Json j = event(name);
        emit(name, j);
    }

    void ready(const std::string& url) {
        Json j;
        j.str("kind", "ready").str("url", url);
        line(j.text());
    }

    std::string result_json(bool ok, const std::string& error) const {
        Json j;
        j.str("kind", "result").str("role", o_.role).boolean("ok", ok);
        if (!ok) j.str("error", error.empty() ? "failed" : error);
        const std::string& r = o_.role;
        if (r == "hello") {
            std::string list = "[";
            for (size_t i = 0; i < hello_received_.size(); ++i) {
                if (i) list += ", ";
                list += hello_received_[i];
            }
            j.raw("received", list + "]");
        } else if (r == "send") {
            j.num("count", o_.count).num("sent", sent_).num("confirmed", confirmed_count_);
            j.num("resent", resent_).num("reconnects", reconnects());
        } else if (r == "receive") {
            j.num("count", o_.count).num("received", static_cast<int64_t>(seen_.size()));
            j.num("duplicates", duplicates_);
            if (o_.count > 0) {
                std::string list = "[";
                bool first = true;
                for (long long i = 1; i <= o_.count; ++i) {
                    if (seen_int_[i]) continue;
                    if (!first) list += ", ";
                    first = false;
                    list += std::to_string(i);
                }
                j.raw("missing", list + "]");
            }
            j.num("reconnects", reconnects());
        } else if (r == "serve") {
            j.num("served", served_);
        } else if (r == "request") {
            j.num("requests", static_cast<int64_t>(o_.requests.size())).num("replies", replies_);
            if (reply_to_.empty()) j.null("reply_to");
            else j.str("reply_to", reply_to_);
        }
        j.raw("options", options_json(o_));
        return j.text();
    }

    // Prints the result line once and ends the process.  Called when every
    // connection has closed; container::stop() would not do: in 0.37 a
    // pending container::schedule() job (our --timeout) keeps run() going.
    [[noreturn]] void finish(int code, const std::string& error) {
        if (!result_printed_) {
            line(result_json(code == 0, error));
            result_printed_ = true;
            exit_code_ = code;
        }
        std::fflush(stdout);
        std::fflush(stderr);
        _exit(exit_code_);
    }

    // The timeout job and the signal thread end the process from here.
    void timed_out() {
        GUARD;
        if (result_printed_) return;
        Json j;
        j.str("kind", "timeout").str("waiting_for", waiting_);
        line(j.text());
        line(result_json(false, "timed out waiting for " + waiting_));
        result_printed_ = true;
        std::fflush(stdout);
        _exit(3);
    }

    void signalled(int sig) {
        GUARD;
        if (!result_printed_) {
            bool unbounded = (o_.role == "receive" || o_.role == "serve") && o_.count == 0;
            bool ok = (done_ || unbounded) && !failed_;
            line(result_json(ok, std::string("terminated by signal ") + std::to_string(sig)));
            result_printed_ = true;
            exit_code_ = ok ? 0 : 1;
        }
        std::fflush(stdout);
        _exit(exit_code_);
    }

    // ---- container ----
    void on_container_start(proton::container& c) override {
        GUARD;
        container_ = &c;
        if (o_.timeout > 0) {
            auto ms = static_cast<proton::duration::numeric_type>(o_.timeout * 1000.0);
            c.schedule(proton::duration(ms), [this]() { timed_out(); });
        }
        if (o_.listen) {
            c.listen(o_.host + ":" + o_.port, static_cast<proton::listen_handler&>(*this));
        } else {
            connect(c, o_.port);
        }
    }

    void connect(proton::container& c, const std::string& port) {
        proton::connection_options co;
        co.handler(*this);
        if (o_.have_user) co.user(o_.user);
        if (o_.have_password) co.password(o_.password);
        if (o_.have_user && o_.have_password) {
            co.sasl_allowed_mechs("PLAIN");
            co.sasl_allow_insecure_mechs(true);
        }
        if (o_.reconnect && !o_.listen) {
            co.reconnect(proton::reconnect_options()
                             .delay(proton::duration(100))
                             .delay_multiplier(2.0)
                             .max_delay(proton::duration(1000)));
        }
        std::string host = o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host;
        ++active_;
        c.connect("amqp://" + host + ":" + port, co);
    }

    // ---- listener ----
    void on_open(proton::listener& l) override {
        GUARD;
        listener_ = l;
        have_listener_ = true;
        std::string port = std::to_string(l.port());
        std::string host = o_.host.find(':') != std::string::npos ? "[" + o_.host + "]" : o_.host;
        ready("amqp://" + host + ":" + port);
        if (o_.role == "hello") {
            // helloworld_direct: connect to our own listener.
            waiting_ = "the connection to our own listener";
            connect(*container_, port);
        } else {
            waiting_ = "a connection on " + host + ":" + port;
        }
    }

    proton::connection_options on_accept(proton::listener&) override {
        GUARD;
        ++active_;
        if (o_.role == "hello") return proton::connection_options().handler(relay_);
        return proton::connection_options().handler(*this);
    }

    void on_error(proton::listener&, const std::string& what) override {
        GUARD;
        failed_ = true;
        Json j = event("transport_error");
        j.str("condition", "listen").str("description", what);
        emit("transport_error", j);
        finish(1, "cannot listen on " + o_.host + ":" + o_.port + ": " + what);
    }

    void on_close(proton::listener&) override {}

    // ---- connection ----
    void on_connection_open(proton::connection& c) override {
        GUARD;
        ++opens_;
        conn_ = c;
        Json j = event("connection_opened");
        std::string cid = c.container_id();
        if (cid.empty()) j.null("container"); else j.str("container", cid);
        emit("connection_opened", j);
        anonymous_relay_ = false;
        for (const auto& cap : c.offered_capabilities())
            if (cap == "ANONYMOUS-RELAY") anonymous_relay_ = true;
        messaging_handler::on_connection_open(c);  // answers the open on accepted connections
        if (o_.listen && o_.role != "hello") {
            waiting_ = "the remote to attach a link";
            return;
        }
        if (c.reconnected()) return;  // proton re-attaches our links itself
        const std::string& r = o_.role;
        if (r == "hello" || r == "receive" || r == "serve") {
            waiting_ = "the receiver link on '" + o_.address + "' to be attached";
            proton::receiver_options ro;
            // at-least-once: ask for snd-settle-mode unsettled, so the broker may not
            // deliver pre-settled (a message settled on the way is lost with the connection)
            if (r == "receive") ro.delivery_mode(proton::delivery_mode::AT_LEAST_ONCE);
            c.open_receiver(o_.address, ro);
            if (r == "serve" && anonymous_relay_) {
                proton::target_options to;
                to.anonymous(true);
                anon_sender_ = c.open_sender("", proton::sender_options().target(to));
                have_anon_ = true;
            }
        } else if (r == "send") {
            waiting_ = "the sender link on '" + o_.address + "' to be attached";
            c.open_sender(o_.address);
        } else if (r == "request") {
            waiting_ = "the dynamic reply receiver to be attached";
            proton::source_options so;
            so.dynamic(true);
            proton::receiver_options ro;
            if (!o_.dynamic_capabilities.empty()) {
                // the broker's own kind of node (RabbitMQ 4.2+: rabbitmq:volatile-queue), which
                // lives as long as the link and delivers pre-settled (peers/CONTRACT.md)
                std::vector<proton::symbol> caps;
                for (const auto& cap : o_.dynamic_capabilities) caps.push_back(proton::symbol(cap));
                so.capabilities(caps);
                so.expiry_policy(proton::source::LINK_CLOSE);
                ro.delivery_mode(proton::delivery_mode::AT_MOST_ONCE);
            }
            ro.source(so);
            c.open_receiver("", ro);
        }
    }

    void on_connection_error(proton::connection& c) override {
        GUARD;
        proton::error_condition e = c.error();
        Json j = event("connection_error");
        j.str("condition", e.name()).str("description", e.description());
        emit("connection_error", j);
        fail("connection error: " + e.what());
    }

    void on_connection_close(proton::connection&) override {
        GUARD;
        emit("connection_closed");
        if (!done_ && !failed_ && !o_.listen) fail("the remote closed the connection");
    }

    void on_session_error(proton::session& s) override {
        GUARD;
        proton::error_condition e = s.error();
        Json j = event("link_error");
        j.str("condition", e.name()).str("description", e.description());
        emit("link_error", j);
        fail("session error: " + e.what());
    }

    void on_transport_error(proton::transport& t) override {
        GUARD;
        proton::error_condition e = t.error();
        Json j = event("transport_error");
        j.str("condition", e.name()).str("description", e.description());
        emit("transport_error", j);
        Json d = event("disconnected");
        d.str("reason", e.what());
        emit("disconnected", d);
        last_disconnect_ = e.what();
        lost_connection();
        if (o_.reconnect && !o_.listen && !done_ && !failed_)
            waiting_ = "a reconnect to " + o_.host + ":" + o_.port + " (last error: " + e.what() + ")";
    }

    void on_transport_close(proton::transport&) override {
        GUARD;
        if (active_ > 0) --active_;
        settle_outcome();
    }

    void on_error(const proton::error_condition& e) override {
        GUARD;
        std::fprintf(stderr, "peer: proton error: %s\n", e.what().c_str());
    }

    // ---- links ----
    // The address a link_opened event reports: the remote source of our
    // receiver, the remote target of our sender.  On links the remote
    // attached first (listen mode) the other terminus names the node.
    std::string link_address(const proton::receiver& r, bool incoming) const {
        std::string a = r.source().address();
        return a.empty() && incoming ? r.target().address() : a;
    }
    std::string link_address(const proton::sender& s, bool incoming) const {
        std::string a = s.target().address();
        return a.empty() && incoming ? s.source().address() : a;
    }

    void link_opened(const std::string& name, const char* role, const std::string& address) {
        Json j = event("link_opened");
        j.str("link", name).str("role", role);
        if (address.empty()) j.null("address"); else j.str("address", address);
        emit("link_opened", j);
    }

    void on_receiver_open(proton::receiver& r) override {
        GUARD;
        bool incoming = r.uninitialized();
        messaging_handler::on_receiver_open(r);  // opens incoming links (direct mode)
        std::string addr = link_address(r, incoming);
        link_opened(r.name(), "receiver", addr);
        const std::string& role = o_.role;
        if (role == "request" && !incoming) {
            reply_to_ = addr;
            if (reply_to_.empty()) {
                fail("the dynamic reply receiver was attached without an address");
                return;
            }
            if (!request_sender_open_) {
                request_sender_open_ = true;
                waiting_ = "the request sender on '" + o_.address + "' to be attached";
                request_sender_ = r.connection().open_sender(o_.address);
            }
            return;
        }
        if (role == "hello" && !incoming) {
            if (!hello_sender_open_) {
                hello_sender_open_ = true;
                waiting_ = "the sender link on '" + o_.address + "' to be attached";
                r.connection().open_sender(o_.address);
            }
            return;
        }
        if ((role == "receive" || role == "serve") && !o_.listen && !ready_printed_) {
            ready_printed_ = true;
            ready(o_.url);
        }
        if (role == "receive")
            waiting_ = progress_receive();
        else if (role == "serve")
            waiting_ = "requests (" + std::to_string(served_) + " served)";
    }

    void on_sender_open(proton::sender& s) override {
        GUARD;
        bool incoming = s.uninitialized();
        if (incoming && s.source().dynamic()) {
            // Direct request/response: assign the dynamic address ourselves
            // (the tutorial's server_direct).
            std::string addr = "dynamic-" + proton::uuid::random().str();
            proton::source_options so;
            so.address(addr);
            s.open(proton::sender_options().source(so));
            dynamic_senders_[addr] = s;
        } else {
            messaging_handler::on_sender_open(s);
        }
        if (incoming) answer_snd_settle_mode(s);
        link_opened(s.name(), "sender", link_address(s, incoming));
        if (o_.role == "send") waiting_ = "credit on the sender link";
        if (o_.role == "hello" && !incoming) waiting_ = "credit on the sender link";
        if (o_.role == "request" && !incoming) waiting_ = "credit for the requests";
    }

    void on_receiver_close(proton::receiver&) override {
        GUARD;
        if (!o_.listen && !done_ && !failed_) fail("the remote closed the receiver link");
    }
    void on_sender_close(proton::sender& s) override {
        GUARD;
        if (!o_.listen && !done_ && !failed_ && o_.role != "serve")
            fail("the remote closed the sender link");
        (void)s;
    }

    void link_error(const proton::error_condition& e) {
        Json j = event("link_error");
        j.str("condition", e.name()).str("description", e.description());
        emit("link_error", j);
        fail("link error: " + e.what());
    }
    void on_receiver_error(proton::receiver& r) override { GUARD; link_error(r.error()); }
    void on_sender_error(proton::sender& s) override { GUARD; link_error(s.error()); }

    // ---- sending ----
    void on_sendable(proton::sender& s) override {
        GUARD;
        Json j = event("sendable");
        j.str("link", s.name()).num("credit", s.credit());
        emit("sendable", j);
        if (done_ || failed_) return;
        const std::string& r = o_.role;
        if (r == "send") send_some(s);
        else if (r == "hello" && !hello_sent_) {
            hello_sent_ = true;
            proton::message m("Hello World!");
            transfer(s, m, "null", 0, "\"Hello World!\"");
            waiting_ = "the message to come back";
        } else if (r == "request" && s == request_sender_) {
            while (s.credit() > 0 && !pending_requests_.empty()) {
                size_t i = pending_requests_.front();
                pending_requests_.pop_front();
                proton::message m(o_.requests[i]);
                m.id(proton::message_id(uint64_t(i + 1)));
                m.correlation_id(proton::message_id(uint64_t(i + 1)));
                m.reply_to(reply_to_);
                transfer(s, m, std::to_string(i + 1), 0, quoted(o_.requests[i]));
            }
            waiting_ = "replies (" + std::to_string(replies_) + " of " +
                       std::to_string(o_.requests.size()) + ")";
        }
    }

    void send_some(proton::sender& s) {
        while (s.credit() > 0) {
            uint64_t id = 0;
            if (!resend_.empty()) {
                id = resend_.front();
                resend_.pop_front();
                if (confirmed_[id]) continue;
            } else if (next_id_ <= static_cast<uint64_t>(o_.count)) {
                id = next_id_++;
                if (confirmed_[id]) continue;
            } else {
                break;
            }
            proton::message m;
            m.id(proton::message_id(id));
            m.durable(true);  // so a broker that persists keeps it across a restart
            std::map<std::string, int> body;
            body["sequence"] = static_cast<int>(id);
            m.body(body);
            if (transferred_[id]) ++resent_;
            transferred_[id] = 1;
            ++sent_;
            transfer(s, m, std::to_string(id), id, std::string());
        }
        waiting_ = progress_send();
        if (o_.count == 0 && !done_) complete();
    }

    // Sends with our own delivery tag so that outcomes map back to ids.
    void transfer(proton::sender& s, const proton::message& m, const std::string& id_json,
                  uint64_t seq, const std::string& body_json) {
        std::string tag = std::to_string(++tag_counter_);
        s.send(m, proton::binary(tag));
        outstanding_[tag] = Outstanding{id_json, seq};
        Json j = event("sent");
        j.raw("id", id_json);
        if (!body_json.empty()) j.raw("body", body_json);
        if (!m.to().empty()) j.str("to", m.to());
        emit("sent", j);
    }

    Outstanding* find(const proton::tracker& t) {
        proton::binary b = t.tag();
        auto it = outstanding_.find(std::string(b.begin(), b.end()));
        return it == outstanding_.end() ? nullptr : &it->second;
    }

    void outcome_event(const char* name, const proton::tracker& t) {
        Outstanding* o = find(t);
        Json j = event(name);
        j.raw("id", o ? o->id_json : "null");
        emit(name, j);
    }

    void on_tracker_accept(proton::tracker& t) override {
        GUARD;
        outcome_event("accepted", t);
        Outstanding* o = find(t);
        if (!o) return;
        if (o_.role == "send" && o->seq && !confirmed_[o->seq]) {
            confirmed_[o->seq] = 1;
            ++confirmed_count_;
            waiting_ = progress_send();
            if (confirmed_count_ == o_.count) complete();
        } else if (o_.role == "serve" && unconfirmed_replies_ > 0) {
            --unconfirmed_replies_;
            check_serve_done();
        }
    }

    void on_tracker_reject(proton::tracker& t) override {
        GUARD;
        outcome_event("rejected", t);
        Outstanding* o = find(t);
        fail("delivery " + (o ? o->id_json : std::string("?")) + " was rejected");
    }

    void on_tracker_release(proton::tracker& t) override {
        GUARD;
        bool modified = t.state() == proton::transfer::MODIFIED;
        outcome_event(modified ? "modified" : "released", t);
        Outstanding* o = find(t);
        if (o && o_.role == "send" && o->seq && !confirmed_[o->seq]) {
            resend_.push_back(o->seq);
            proton::sender s = t.sender();
            if (s.active() && s.credit() > 0) send_some(s);
        } else if (o_.role == "serve" && unconfirmed_replies_ > 0) {
            --unconfirmed_replies_;  // a released reply is not ours to retry
            check_serve_done();
        }
    }

    void on_tracker_settle(proton::tracker& t) override {
        GUARD;
        outcome_event("settled", t);
        proton::binary b = t.tag();
        outstanding_.erase(std::string(b.begin(), b.end()));
    }

    // ---- receiving ----
    void on_message(proton::delivery& d, proton::message& m) override {
        GUARD;
        const std::string& r = o_.role;
        std::string id = id_json(m.id());
        std::string body = value_json(m.body());
        Json j = event("message");
        j.raw("id", id).raw("body", body);
        bool dup = false;
        if (r == "receive") {
            dup = !seen_.insert(id).second;
            j.boolean("duplicate", dup);
        }
        if (!m.reply_to().empty()) j.str("reply_to", m.reply_to());
        proton::message_id corr = m.correlation_id();
        if (!corr.empty()) j.raw("correlation_id", id_json(corr));
        if (!m.to().empty()) j.str("to", m.to());
        size_t req_index = 0;
        bool req_known = false;
        if (r == "request" && !corr.empty()) {
            try {
                uint64_t c = proton::coerce<uint64_t>(corr);
                if (c >= 1 && c <= o_.requests.size()) {
                    req_index = c - 1;
                    req_known = true;
                    j.str("request", o_.requests[req_index]);
                }
            } catch (const std::exception&) {
            }
        }
        emit("message", j);

        if (done_ || failed_) return;
        if (r == "hello") {
            hello_received_.push_back(body);
            complete();
        } else if (r == "receive") {
            if (dup) ++duplicates_;
            else if (o_.count > 0 && is_integer_type(m.id().type())) {
                try {
                    uint64_t n = proton::coerce<uint64_t>(m.id());
                    if (n >= 1 && n <= static_cast<uint64_t>(o_.count)) seen_int_[n] = 1;
                } catch (const std::exception&) {
                }
            }
            waiting_ = progress_receive();
            if (o_.count > 0 && static_cast<long long>(seen_.size()) >= o_.count) complete();
        } else if (r == "serve") {
            serve(d, m);
        } else if (r == "request") {
            if (!req_known) {
                fail("unexpected reply with correlation_id " + id_json(corr));
                return;
            }
            if (replied_.count(req_index)) return;  // a repeat after a reconnect
            replied_.insert(req_index);
            ++replies_;
            std::string want = upper(o_.requests[req_index]);
            if (m.body().type() != proton::STRING || proton::get<std::string>(m.body()) != want) {
                fail("reply to request " + std::to_string(req_index + 1) + " has body " + body +
                     ", expected " + quoted(want));
                return;
            }
            waiting_ = "replies (" + std::to_string(replies_) + " of " +
                       std::to_string(o_.requests.size()) + ")";
            if (replies_ == static_cast<int64_t>(o_.requests.size())) complete();
        }
    }

    void serve(proton::delivery& d, const proton::message& req) {
        std::string to = req.reply_to();
        if (to.empty()) {
            std::fprintf(stderr, "peer: request without reply_to ignored\n");
            return;
        }
        proton::message reply;
        reply.to(to);
        const proton::value& b = req.body();
        if (b.type() == proton::STRING) reply.body(upper(proton::get<std::string>(b)));
        else if (b.type() == proton::SYMBOL) reply.body(upper(proton::get<proton::symbol>(b)));
        else reply.body(b);
        proton::message_id corr = req.correlation_id();
        reply.correlation_id(corr.empty() ? req.id() : corr);
        proton::sender s;
        auto dyn = dynamic_senders_.find(to);
        if (dyn != dynamic_senders_.end()) {
            s = dyn->second;
        } else if (have_anon_) {
            s = anon_sender_;
        } else {
            auto it = reply_senders_.find(to);
            if (it == reply_senders_.end())
                it = reply_senders_.emplace(to, d.connection().open_sender(to)).first;
            s = it->second;
        }
        ++unconfirmed_replies_;
        transfer(s, reply, id_json(reply.correlation_id()), 0, value_json(reply.body()));
        ++served_;
        waiting_ = "requests (" + std::to_string(served_) + " served)";
        check_serve_done();
    }

    void check_serve_done() {
        if (o_.role == "serve" && o_.count > 0 && served_ >= o_.count && unconfirmed_replies_ == 0)
            complete();
    }

    // ---- outcome ----
    std::string progress_send() const {
        return "confirmation of all messages (" + std::to_string(confirmed_count_) + " of " +
               std::to_string(o_.count) + " confirmed)";
    }
    std::string progress_receive() const {
        if (o_.count == 0) return "messages (count 0: until killed)";
        return "messages (" + std::to_string(seen_.size()) + " of " + std::to_string(o_.count) +
               " received)";
    }

    int64_t reconnects() const { return opens_ > 1 ? opens_ - 1 : 0; }

    // Detach our links before the close frame. The tutorial just closes the
    // connection, which AMQP allows, but the suite holds every reference peer
    // to a clean shutdown (rule detach-before-close).
    void close_cleanly() {
        for (proton::sender s : conn_.senders())
            if (s.active()) s.close();
        for (proton::receiver r : conn_.receivers())
            if (r.active()) r.close();
        conn_.close();
    }

    // The role succeeded: close the connection; the result follows on transport close.
    void complete() {
        if (done_) return;
        done_ = true;
        waiting_ = "the connection to close";
        if (!conn_.uninitialized() && conn_.active()) close_cleanly();
        else settle_outcome();
    }

    void fail(const std::string& why) {
        if (failed_ || done_) return;
        failed_ = true;
        error_ = why;
        waiting_ = "the connection to close after: " + why;
        if (!conn_.uninitialized() && !conn_.closed()) close_cleanly();
        else settle_outcome();
    }

    // A connection ended (or the role ended without one): decide whether to
    // wait for another connection or print the result.
    void settle_outcome() {
        if (result_printed_) return;
        if (!done_ && !failed_) {
            if (o_.listen) return;  // wait for the next connection on the listener
            if (active_ > 0) return;
            failed_ = true;
            error_ = last_disconnect_.empty() ? "the connection closed before the role was done"
                                              : "disconnected: " + last_disconnect_;
        }
        if (active_ > 0) return;
        if (have_listener_) listener_.stop();
        finish(failed_ ? 1 : 0, error_);
    }

    // The connection dropped: forget in-flight deliveries; a sender resends
    // everything after the last confirmed message (sent = confirmed).
    void lost_connection() {
        outstanding_.clear();
        resend_.clear();
        unconfirmed_replies_ = 0;
        if (o_.role == "send") {
            uint64_t first = 1;
            while (first <= static_cast<uint64_t>(o_.count) && confirmed_[first]) ++first;
            next_id_ = first;
        }
        if (o_.role == "request") {
            pending_requests_.clear();
            for (size_t i = 0; i < o_.requests.size(); ++i)
                if (!replied_.count(i)) pending_requests_.push_back(i);
        }
        if (o_.listen) {
            // A new connection brings new links.  (When connecting, proton
            // re-attaches the cached reply senders itself on reconnect.)
            reply_senders_.clear();
            dynamic_senders_.clear();
        }
    }

    bool is_done() const { return done_; }

  private:
    friend class Relay;
    const Options& o_;
    Relay relay_;
    proton::container* container_ = nullptr;
    proton::connection conn_;
    proton::listener listener_;
    bool have_listener_ = false;
    int active_ = 0;
    int64_t opens_ = 0;
    bool done_ = false, failed_ = false, result_printed_ = false, ready_printed_ = false;
    int exit_code_ = 1;
    std::string error_, waiting_, last_disconnect_;
    bool anonymous_relay_ = false;
    uint64_t tag_counter_ = 0;
    std::unordered_map<std::string, Outstanding> outstanding_;
    // send
    uint64_t next_id_ = 1;
    std::vector<char> transferred_, confirmed_;
    std::deque<uint64_t> resend_;
    int64_t sent_ = 0, confirmed_count_ = 0, resent_ = 0;
    // receive
    std::set<std::string> seen_;
    std::vector<char> seen_int_;
    int64_t duplicates_ = 0;
    // serve
    int64_t served_ = 0;
    int64_t unconfirmed_replies_ = 0;
    proton::sender anon_sender_;
    bool have_anon_ = false;
    std::map<std::string, proton::sender> reply_senders_, dynamic_senders_;
    // request
    std::string reply_to_;
    proton::sender request_sender_;
    bool request_sender_open_ = false;
    std::deque<size_t> pending_requests_;
    int64_t replies_ = 0;
    std::set<size_t> replied_;
    // hello
    bool hello_sender_open_ = false, hello_sent_ = false;
    std::vector<std::string> hello_received_;
};

// ---- Relay ----
void Relay::on_connection_open(proton::connection& c) {
    GUARD;
    messaging_handler::on_connection_open(c);
}
void Relay::on_receiver_open(proton::receiver& r) {
    GUARD;
    messaging_handler::on_receiver_open(r);
}
std::string Relay::link_address(const proton::sender& s) const {
    std::string a = s.source().address();
    return a.empty() ? s.target().address() : a;
}
void Relay::on_sender_open(proton::sender& s) {
    GUARD;
    bool incoming = s.uninitialized();
    messaging_handler::on_sender_open(s);
    if (incoming) answer_snd_settle_mode(s);
    senders_.push_back(s);
}
void Relay::on_sendable(proton::sender& s) {
    GUARD;
    pump(link_address(s));
}
void Relay::on_message(proton::delivery& d, proton::message& m) {
    GUARD;
    std::string a = d.receiver().target().address();
    if (a.empty()) a = m.to();
    queues_[a].push_back(m);
    pump(a);
}
void Relay::pump(const std::string& address) {
    auto& q = queues_[address];
    for (auto& s : senders_) {
        if (!s.active() || link_address(s) != address) continue;
        while (!q.empty() && s.credit() > 0) {
            s.send(q.front());
            q.pop_front();
        }
    }
}
void Relay::on_connection_close(proton::connection& c) {
    GUARD;
    senders_.clear();
    messaging_handler::on_connection_close(c);
}
void Relay::on_transport_error(proton::transport&) {}
void Relay::on_transport_close(proton::transport&) {
    GUARD;
    senders_.clear();
    if (peer_.active_ > 0) --peer_.active_;
    peer_.settle_outcome();
}

Peer* g_peer = nullptr;

void signal_thread(sigset_t set) {
    int sig = 0;
    while (sigwait(&set, &sig) != 0) {
    }
    if (g_peer) g_peer->signalled(sig);
    _exit(1);
}

}  // namespace

int main(int argc, char** argv) {
    Options opts;
    try {
        opts = parse_args(argc, argv);
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s\n", e.text.c_str());
        return 2;
    }

    // Block the signals before any thread exists, so only sigwait() sees them.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    signal(SIGPIPE, SIG_IGN);

    Peer peer(opts);
    g_peer = &peer;
    std::thread(signal_thread, set).detach();

    try {
        proton::container c(peer, "amqp-interop-cpp-" + std::to_string(getpid()));
        c.run();
        GUARD;
    } catch (const std::exception& e) {
        GUARD;
        std::fprintf(stderr, "peer: %s\n", e.what());
        if (!peer.result_printed()) peer.finish(1, std::string("proton error: ") + e.what());
        std::fflush(stdout);
        _exit(peer.exit_code());
    } catch (...) {
        GUARD;
        if (!peer.result_printed()) peer.finish(1, "unknown exception");
        std::fflush(stdout);
        _exit(1);
    }
    GUARD;
    if (!peer.result_printed()) peer.finish(1, "the container stopped before the role was done");
    std::fflush(stdout);
    // _exit: the signal thread is still blocked in sigwait(); skip static
    // destructors racing with it.
    _exit(peer.exit_code());
}
