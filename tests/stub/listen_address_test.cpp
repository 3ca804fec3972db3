// --listen forms: HOST:PORT, :PORT (loopback only), [v6]:PORT, unix:PATH.
#include "stub/listen_address.hpp"

#include <gtest/gtest.h>

namespace kvmgdb::stub {
namespace {

ListenAddress tcp(std::string host, std::uint16_t port) {
    ListenAddress a;
    a.host = std::move(host);
    a.port = port;
    return a;
}

TEST(ListenAddress, PortAloneBindsLoopbackOnly) {
    EXPECT_EQ(parse_listen_address(":1234"), tcp("127.0.0.1", 1234));
    EXPECT_EQ(parse_listen_address(":0"), tcp("127.0.0.1", 0));
}

TEST(ListenAddress, HostAndPort) {
    EXPECT_EQ(parse_listen_address("127.0.0.1:0"), tcp("127.0.0.1", 0));
    EXPECT_EQ(parse_listen_address("0.0.0.0:65535"), tcp("0.0.0.0", 65535));
    EXPECT_EQ(parse_listen_address("localhost:99"), tcp("127.0.0.1", 99));
    EXPECT_EQ(parse_listen_address("[::1]:1234"), tcp("::1", 1234));
    EXPECT_EQ(parse_listen_address("[::]:1"), tcp("::", 1));
}

TEST(ListenAddress, UnixSocket) {
    ListenAddress a = parse_listen_address("unix:/tmp/kvmgdb.sock");
    EXPECT_EQ(a.kind, ListenAddress::Kind::Unix);
    EXPECT_EQ(a.path, "/tmp/kvmgdb.sock");
    EXPECT_EQ(parse_listen_address("unix:rel/x:y").path, "rel/x:y");
}

TEST(ListenAddress, ToStringRoundTrips) {
    for (const char* text : {"127.0.0.1:1234", "[::1]:7", "unix:/run/g.sock", "10.0.0.1:0"}) {
        EXPECT_EQ(parse_listen_address(text).to_string(), text);
    }
}

struct BadAddress {
    const char* text;
    const char* message_part;
};

class ListenAddressErrors : public ::testing::TestWithParam<BadAddress> {};

TEST_P(ListenAddressErrors, NameWhatIsWrong) {
    try {
        parse_listen_address(GetParam().text);
        FAIL() << "accepted " << GetParam().text;
    } catch (const ListenAddressError& e) {
        EXPECT_NE(std::string(e.what()).find(GetParam().message_part), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(GetParam().text), std::string::npos) << e.what();
    }
}

INSTANTIATE_TEST_SUITE_P(
    Table, ListenAddressErrors,
    ::testing::Values(BadAddress{"1234", "no port"}, BadAddress{"", "no port"},
                      BadAddress{":", "port must be"}, BadAddress{":65536", "port must be"},
                      BadAddress{":-1", "port must be"}, BadAddress{":12ab", "port must be"},
                      BadAddress{"example.com:1", "not an IP address"},
                      BadAddress{"::1:1234", "in brackets"}, BadAddress{"[1.2.3.4]:5", "not an IPv6"},
                      BadAddress{"unix:", "no socket path"},
                      BadAddress{"unix:/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                 "longer than 107"}));

}  // namespace
}  // namespace kvmgdb::stub
