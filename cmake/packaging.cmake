# `cmake --install` and `cpack -G DEB`. src/CMakeLists.txt installs the kvmgdb
# executable and its gdb extension (share/kvmgdb/kvmgdb.py, where
# --print-gdb-extension looks); this file adds the sandbox, the docs and the package.
# tests/install/install_package_test.sh checks the result.
include(GNUInstallDirs)

# The KVM sandbox, installed as the command kvmgdb-with-kvm: the prefix because bin/
# is shared with every other package. The script is self-contained and finds kvmgdb
# beside itself (for --check-kvm), so it goes to bin/ as it is, with no libexec copy
# and wrapper to keep in step.
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/with-kvm
        DESTINATION ${CMAKE_INSTALL_BINDIR} RENAME kvmgdb-with-kvm)
# Symbols for a stripped Linux vmlinux from its own kallsyms (docs/kernels.md), as
# kvmgdb-kallsyms for the same reason; a single Python file.
install(PROGRAMS ${PROJECT_SOURCE_DIR}/scripts/kallsyms
        DESTINATION ${CMAKE_INSTALL_BINDIR} RENAME kvmgdb-kallsyms)

# README.md at share/doc/kvmgdb/ and the manual under it in docs/: the texts name
# each other as docs/NAME.md, which stays true there.
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs
        FILES_MATCHING PATTERN "*.md")

set(KVMGDB_PACKAGE_MAINTAINER "kvmgdb maintainers <kvmgdb-maintainers@example.org>"
    CACHE STRING "Maintainer field of the Debian package (cpack -G DEB)")

set(CPACK_PACKAGE_NAME kvmgdb)
set(CPACK_PACKAGE_CONTACT "${KVMGDB_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "KVM-based VMM that debugs bare-metal x86 guests with gdb")
# Lines under 80 columns, as Debian's control files want them (CPack indents them).
set(CPACK_PACKAGE_DESCRIPTION "kvmgdb loads a bare-metal guest ELF, starts the CPU in 16-bit real,
32-bit protected, 32-bit paged or 64-bit long mode, runs it with KVM and serves
the GDB Remote Serial Protocol: breakpoints, hardware watchpoints, single-step,
control registers and memory through the guest's page tables.
kvmgdb-with-kvm runs a command where /dev/kvm is missing, in a QEMU VM with
nested KVM; kvmgdb-kallsyms gives gdb the symbols of a stripped Linux
vmlinux from its own kallsyms table.")
# kvmgdb_<version>_<arch>.deb
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION devel)
# Depends from the libraries the binary links (Boost program options, libstdc++, libc),
# with the versions it needs, by dpkg-shlibdeps (dpkg-dev, part of build-essential).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# kvmgdb itself runs with a working /dev/kvm alone; kvmgdb-with-kvm boots its VM with
# these (docs/with-kvm.md), and the gdb extension and kvmgdb-kallsyms (Python) are for gdb.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "qemu-system-x86, busybox-static, xz-utils")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "gdb, python3")
set(CPACK_STRIP_FILES ON)
set(CPACK_GENERATOR DEB)
include(CPack)
