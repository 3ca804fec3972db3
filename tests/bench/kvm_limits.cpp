// bench_kvm_limits: the floors scripts/bench sets kvmgdb's figures against, from
// raw KVM and sockets with no kvmgdb code at all.
//   hlt      a process that creates a VM and runs it to HLT (timed from outside)
//   step N   N single steps: KVM_GUESTDBG_SINGLESTEP, one KVM_RUN each
//   tcp N    N one-byte round trips over loopback TCP (gdb's transport)
//   run CMD  runs CMD (stdin, stdout, stderr: /dev/null) and reports its wall time,
//            status and peak RSS. A Python child's peak RSS would include the
//            Python pages it had between fork and exec (the kernel keeps the old
//            mm's high-water mark across exec), so the bench forks from here.
// Each prints one line of JSON on stdout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "loopback.hpp"  // this directory: the program links no kvmgdb code

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "bench_kvm_limits: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

[[noreturn]] void usage() {
    std::fprintf(stderr, "usage: bench_kvm_limits hlt | step N | tcp N | run CMD [ARG...]\n");
    std::exit(2);
}

struct UniqueFd {
    int fd;
    explicit UniqueFd(int f, const char* what) : fd(f) {
        if (fd < 0) fail(what);
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { ::close(fd); }
};

struct Mapping {
    void* addr;
    std::size_t size;
    Mapping(std::size_t bytes, int prot, int flags, int fd, const char* what) : size(bytes) {
        addr = ::mmap(nullptr, bytes, prot, flags, fd, 0);
        if (addr == MAP_FAILED) fail(what);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { ::munmap(addr, size); }
};

// ioctl that fails loudly: the request's name goes into the message.
int xioctl(int fd, unsigned long request, const char* name, auto arg) {
    int r;
    do r = ::ioctl(fd, request, arg); while (r < 0 && errno == EINTR);
    if (r < 0) fail(name);
    return r;
}
#define IOCTL(fd, req, arg) xioctl(fd, req, #req, arg)

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// One vCPU in real mode at 0 over one 4 KiB page of `code`: the least a VMM
// must do before the guest runs its first instruction.
struct TinyVm {
    static constexpr std::size_t kPage = 4096;
    UniqueFd kvm{::open("/dev/kvm", O_RDWR | O_CLOEXEC), "open /dev/kvm"};
    UniqueFd vm{IOCTL(kvm.fd, KVM_CREATE_VM, 0UL), "KVM_CREATE_VM"};
    Mapping ram{kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, "mmap guest memory"};
    UniqueFd vcpu;
    Mapping run_map;
    kvm_run* run;

    TinyVm(const unsigned char* code, std::size_t size)
        : vcpu(prepare(code, size), "KVM_CREATE_VCPU"),
          run_map(std::size_t(IOCTL(kvm.fd, KVM_GET_VCPU_MMAP_SIZE, 0UL)), PROT_READ | PROT_WRITE, MAP_SHARED, vcpu.fd,
                  "mmap kvm_run"),
          run(static_cast<kvm_run*>(run_map.addr)) {
        kvm_sregs sregs{};
        IOCTL(vcpu.fd, KVM_GET_SREGS, &sregs);
        sregs.cs.selector = 0;  // real mode (CR0.PE clear at reset): CS base 0
        sregs.cs.base = 0;
        IOCTL(vcpu.fd, KVM_SET_SREGS, &sregs);
        kvm_regs regs{};
        regs.rip = 0;
        regs.rflags = 0x2;  // bit 1 is always set
        IOCTL(vcpu.fd, KVM_SET_REGS, &regs);
    }

    // Everything before KVM_CREATE_VCPU, returning its fd: the TSS address Intel
    // needs before the first run (three pages no guest uses, as QEMU picks), and
    // the memslot with the code.
    int prepare(const unsigned char* code, std::size_t size) {
        IOCTL(vm.fd, KVM_SET_TSS_ADDR, 0xfffbd000UL);
        std::memcpy(ram.addr, code, size);
        kvm_userspace_memory_region slot{};
        slot.memory_size = kPage;
        slot.userspace_addr = reinterpret_cast<std::uint64_t>(ram.addr);
        IOCTL(vm.fd, KVM_SET_USER_MEMORY_REGION, &slot);
        return ::ioctl(vm.fd, KVM_CREATE_VCPU, 0UL);
    }

    // KVM_RUN once; the exit reason.
    std::uint32_t enter() {
        IOCTL(vcpu.fd, KVM_RUN, 0UL);
        return run->exit_reason;
    }
};

[[noreturn]] void unexpected_exit(std::uint32_t reason, const char* wanted) {
    std::fprintf(stderr, "bench_kvm_limits: KVM_RUN: exit reason %u, expected %s\n", reason, wanted);
    std::exit(1);
}

int mode_hlt() {
    static const unsigned char code[] = {0xf4};  // hlt
    TinyVm vm(code, sizeof code);
    if (std::uint32_t reason = vm.enter(); reason != KVM_EXIT_HLT) unexpected_exit(reason, "KVM_EXIT_HLT");
    std::printf("{\"mode\":\"hlt\",\"exit\":\"hlt\"}\n");
    return 0;
}

int mode_step(unsigned long steps) {
    static const unsigned char code[] = {0x40, 0xeb, 0xfd};  // 1: inc ax; jmp 1b
    TinyVm vm(code, sizeof code);
    kvm_guest_debug debug{};
    debug.control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    IOCTL(vm.vcpu.fd, KVM_SET_GUEST_DEBUG, &debug);
    auto start = std::chrono::steady_clock::now();
    for (unsigned long i = 0; i < steps; ++i)
        if (std::uint32_t reason = vm.enter(); reason != KVM_EXIT_DEBUG) unexpected_exit(reason, "KVM_EXIT_DEBUG");
    double s = seconds_since(start);
    std::printf("{\"mode\":\"step\",\"steps\":%lu,\"seconds\":%.6f,\"steps_per_s\":%.1f}\n", steps, s,
                double(steps) / s);
    return 0;
}

void no_delay(int fd) {
    int one = 1;  // a 1-byte write must leave at once, as gdb's packets do
    if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) fail("setsockopt TCP_NODELAY");
}

// Exactly one byte each way, retrying on EINTR; 0 at end of stream.
ssize_t io_byte(bool write, int fd, char* byte) {
    ssize_t n;
    do n = write ? ::write(fd, byte, 1) : ::read(fd, byte, 1); while (n < 0 && errno == EINTR);
    if (n < 0) fail(write ? "write" : "read");
    return n;
}

int mode_tcp(unsigned long trips) {
    kvmgdb::bench::LoopbackListener bound = kvmgdb::bench::listen_on_loopback();
    if (bound.failed) fail(bound.failed);
    UniqueFd listener(bound.fd, "socket");
    sockaddr_in sa = bound.address;

    // The echo side, as a stub would be: read a byte, answer it.
    std::thread echo([&listener] {
        UniqueFd conn(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC), "accept4");
        no_delay(conn.fd);
        char byte;
        while (io_byte(false, conn.fd, &byte) == 1) io_byte(true, conn.fd, &byte);
    });
    {
        UniqueFd client(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket");
        if (::connect(client.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) < 0) fail("connect");
        no_delay(client.fd);
        auto start = std::chrono::steady_clock::now();
        char byte = '$';
        for (unsigned long i = 0; i < trips; ++i) {
            io_byte(true, client.fd, &byte);
            if (io_byte(false, client.fd, &byte) != 1) {
                std::fprintf(stderr, "bench_kvm_limits: read: the echo side closed\n");
                std::exit(1);
            }
        }
        double s = seconds_since(start);
        std::printf("{\"mode\":\"tcp\",\"round_trips\":%lu,\"seconds\":%.6f,\"round_trips_per_s\":%.1f}\n", trips, s,
                    double(trips) / s);
    }  // closing the client ends the echo loop
    echo.join();
    return 0;
}

unsigned long count(const char* text) {
    char* end = nullptr;
    errno = 0;
    unsigned long n = std::strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || n == 0 || text[0] == '-') usage();
    return n;
}

int mode_run(char** argv) {
    auto start = std::chrono::steady_clock::now();
    pid_t pid = fork();
    if (pid < 0) fail("fork");
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(null, 2) < 0) _exit(126);
        execvp(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    struct rusage usage {};
    if (wait4(pid, &status, 0, &usage) != pid) fail("wait4");
    double seconds = seconds_since(start);
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::printf("{\"mode\":\"run\",\"status\":%d,\"seconds\":%.6f,\"max_rss_kib\":%ld}\n", code,
                seconds, usage.ru_maxrss);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "hlt" && argc == 2) return mode_hlt();
    if (mode == "step" && argc == 3) return mode_step(count(argv[2]));
    if (mode == "tcp" && argc == 3) return mode_tcp(count(argv[2]));
    if (mode == "run" && argc >= 3) return mode_run(argv + 2);
    usage();
}
