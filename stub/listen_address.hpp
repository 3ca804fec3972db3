// Where `kvmgdb --listen ADDR` serves the GDB remote protocol, parsed from
// the command-line text (pure, unit-tested in tests/stub/listen_address_test.cpp).
//   HOST:PORT      TCP on HOST (an IPv4 or IPv6 address, [v6]:PORT, or localhost)
//   :PORT          TCP on 127.0.0.1 only
//   unix:PATH      a Unix-domain stream socket at PATH (created with mode 0600)
// PORT 0 asks the kernel for a free port; the server prints the real one.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace kvmgdb::stub {

class ListenAddressError : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

struct ListenAddress {
    enum class Kind { Tcp, Unix };
    Kind kind = Kind::Tcp;
    std::string host = "127.0.0.1";  // Tcp: numeric address, brackets stripped
    std::uint16_t port = 0;          // Tcp
    std::string path;                // Unix

    // "127.0.0.1:1234", "[::1]:1234", "unix:/tmp/g.sock": the form parse accepts.
    std::string to_string() const;
    bool operator==(const ListenAddress&) const = default;
};

// Throws ListenAddressError saying what is wrong with `text`.
ListenAddress parse_listen_address(std::string_view text);

}  // namespace kvmgdb::stub
