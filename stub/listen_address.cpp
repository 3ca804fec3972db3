#include "stub/listen_address.hpp"

#include <arpa/inet.h>
#include <sys/un.h>

#include <charconv>

namespace kvmgdb::stub {

namespace {

constexpr std::string_view kForms = " (expected HOST:PORT, :PORT or unix:PATH)";

[[noreturn]] void fail(std::string_view text, std::string_view why) {
    throw ListenAddressError("invalid listen address '" + std::string(text) + "': " + std::string(why));
}

bool is_ipv4(const std::string& host) {
    in_addr a{};
    return inet_pton(AF_INET, host.c_str(), &a) == 1;
}

bool is_ipv6(const std::string& host) {
    in6_addr a{};
    return inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

}  // namespace

std::string ListenAddress::to_string() const {
    if (kind == Kind::Unix) return "unix:" + path;
    if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
    return host + ":" + std::to_string(port);
}

ListenAddress parse_listen_address(std::string_view text) {
    ListenAddress out;
    if (text.starts_with("unix:")) {
        out.kind = ListenAddress::Kind::Unix;
        out.path = std::string(text.substr(5));
        if (out.path.empty()) fail(text, "no socket path after 'unix:'");
        if (out.path.find('\0') != std::string::npos) fail(text, "NUL byte in the socket path");
        // sockaddr_un::sun_path holds the path and its terminating NUL.
        if (out.path.size() >= sizeof(sockaddr_un{}.sun_path))
            fail(text, "socket path longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
        return out;
    }
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) fail(text, std::string("no port") + std::string(kForms));
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);

    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value, 10);
    if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535)
        fail(text, "port must be a number from 0 to 65535");
    out.port = static_cast<std::uint16_t>(value);

    if (host.empty() || host == "localhost") {
        out.host = "127.0.0.1";  // :PORT never exposes the guest beyond this machine
        return out;
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        out.host = std::string(host.substr(1, host.size() - 2));
        if (!is_ipv6(out.host)) fail(text, "'" + out.host + "' is not an IPv6 address");
        return out;
    }
    out.host = std::string(host);
    if (is_ipv4(out.host)) return out;
    if (is_ipv6(out.host)) fail(text, "write an IPv6 address in brackets: [" + out.host + "]:PORT");
    fail(text, "'" + out.host + "' is not an IP address (use a numeric address or localhost)");
}

}  // namespace kvmgdb::stub
