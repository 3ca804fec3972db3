#include "stub/register_view.hpp"

#include <algorithm>
#include <cerrno>
#include <string_view>

namespace kvmgdb::stub {

namespace {

// The general registers whose 32-bit and 64-bit names differ.
constexpr std::pair<std::string_view, std::string_view> kWidened[] = {
    {"eax", "rax"}, {"ebx", "rbx"}, {"ecx", "rcx"}, {"edx", "rdx"}, {"esi", "rsi"},
    {"edi", "rdi"}, {"ebp", "rbp"}, {"esp", "rsp"}, {"eip", "rip"},
};

std::span<const std::uint8_t> bytes_of(const RegisterInfo& reg, std::span<const std::uint8_t> g) {
    return g.subspan(reg.offset, reg_size(reg));
}

// Copies min(size) low bytes of `value` into `out`; the rest of `out` is left alone.
void copy_low(std::span<const std::uint8_t> value, std::span<std::uint8_t> out) {
    std::copy_n(value.begin(), std::min(value.size(), out.size()), out.begin());
}

}  // namespace

const RegisterInfo* counterpart(const RegisterInfo& reg, const RegisterLayout& to) {
    if (const RegisterInfo* same = to.find(reg.name)) return same;
    for (auto [narrow, wide] : kWidened) {
        if (reg.name == narrow) return to.find(wide);
        if (reg.name == wide) return to.find(narrow);
    }
    return nullptr;
}

std::vector<std::uint8_t> convert_registers(const RegisterLayout& from, std::span<const std::uint8_t> g,
                                            const RegisterLayout& to) {
    std::vector<std::uint8_t> out(to.g_size(), 0);
    for (const RegisterInfo& reg : to) {
        const RegisterInfo* src = counterpart(reg, from);
        if (!src || src->offset + reg_size(*src) > g.size()) continue;
        copy_low(bytes_of(*src, g), std::span(out).subspan(reg.offset, reg_size(reg)));
    }
    return out;
}

std::vector<std::uint8_t> overlay_registers(const RegisterLayout& cur, std::span<const std::uint8_t> current,
                                            const RegisterLayout& from, std::span<const std::uint8_t> g) {
    std::vector<std::uint8_t> out(current.begin(), current.end());
    for (const RegisterInfo& reg : from) {
        const RegisterInfo* dst = counterpart(reg, cur);
        if (!dst || dst->offset + reg_size(*dst) > out.size() || reg.offset + reg_size(reg) > g.size()) continue;
        copy_low(bytes_of(reg, g), std::span(out).subspan(dst->offset, reg_size(*dst)));
    }
    return out;
}

Arch RegisterView::arch() const {
    if (!pinned_) pinned_ = fixed_ ? *fixed_ : target_.arch();
    return *pinned_;
}

std::vector<std::uint8_t> RegisterView::read_all() {
    if (!converting()) return target_.read_registers();
    return convert_registers(cpu_layout(), target_.read_registers(), layout());
}

TargetStatus RegisterView::write_all(std::span<const std::uint8_t> g) {
    if (!converting()) return target_.write_registers(g);
    const RegisterLayout& cur = cpu_layout();
    return target_.write_registers(overlay_registers(cur, target_.read_registers(), layout(), g));
}

std::optional<std::vector<std::uint8_t>> RegisterView::read(unsigned regnum) {
    if (!converting()) return target_.read_register(regnum);
    const RegisterInfo* reg = layout().find(regnum);
    if (!reg) return std::nullopt;
    std::vector<std::uint8_t> out(reg_size(*reg), 0);
    if (const RegisterInfo* src = counterpart(*reg, cpu_layout())) {
        auto value = target_.read_register(src->regnum);
        if (!value) return std::nullopt;
        copy_low(*value, out);
    }
    return out;
}

TargetStatus RegisterView::write(unsigned regnum, std::span<const std::uint8_t> value) {
    if (!converting()) return target_.write_register(regnum, value);
    const RegisterInfo* reg = layout().find(regnum);
    const RegisterInfo* dst = reg ? counterpart(*reg, cpu_layout()) : nullptr;
    if (!dst) return TargetStatus::error(EINVAL, "no such register in the CPU's current mode");
    auto current = target_.read_register(dst->regnum);
    if (!current) return TargetStatus::error(EINVAL);
    copy_low(value, *current);
    return target_.write_register(dst->regnum, *current);
}

}  // namespace kvmgdb::stub
