// The KVM edge's error messages, checked without KVM: a missing device and a file
// that is not /dev/kvm at all.
#include <gtest/gtest.h>

#include "kvm/kvm.hpp"

using namespace kvmgdb;

TEST(KvmError, MissingDeviceSaysWhatToDo) {
    try {
        Kvm kvm("/nonexistent/kvm");
        FAIL() << "expected KvmError";
    } catch (const KvmError& e) {
        std::string what = e.what();
        EXPECT_EQ(e.call(), "open /nonexistent/kvm");
        EXPECT_EQ(e.error_number(), ENOENT);
        EXPECT_NE(what.find("No such file or directory"), std::string::npos) << what;
        EXPECT_NE(what.find("modprobe"), std::string::npos) << what;
        EXPECT_NE(what.find("scripts/with-kvm"), std::string::npos) << what;
    }
}

TEST(KvmError, NamesTheIoctlAndErrno) {
    try {
        Kvm kvm("/dev/null");  // opens, but answers no KVM ioctl
        FAIL() << "expected KvmError";
    } catch (const KvmError& e) {
        EXPECT_EQ(std::string(e.what()), "KVM_GET_API_VERSION: Inappropriate ioctl for device");
        EXPECT_EQ(e.call(), "KVM_GET_API_VERSION");
        EXPECT_EQ(e.error_number(), ENOTTY);
    }
}
