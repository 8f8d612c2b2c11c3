"""Writes a system root with N installed packages for benches/many-packages.sh.

dpkg's status has N records in the shape dpkg writes them (description of three lines,
Depends, Source...), about 480 bytes each: 95 MB for 200,000. One archive's list offers
every package, a newer version for one in ten. apt reads the root through apt-test.conf.

    python3 benches/many_packages.py ROOT N
"""
import os
import sys

root, n = sys.argv[1], int(sys.argv[2])
for d in ["etc/apt/apt.conf.d", "etc/apt/preferences.d", "etc/apt/sources.list.d",
          "var/lib/apt/lists/partial", "var/lib/dpkg/info", "var/lib/dpkg/updates", "cache"]:
    os.makedirs(os.path.join(root, d), exist_ok=True)


def write(rel, text):
    with open(os.path.join(root, rel), "w") as f:
        f.write(text)


write("etc/apt/apt.conf.d/00bench", 'APT::Architecture "amd64";\n')
write("etc/os-release", 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
      'VERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n')
# What makes the tree a system for `collect --root` (the agent refuses one that is not).
write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n")
write("etc/apt/sources.list.d/bench.list", "deb http://deb.bench/debian bookworm main\n")
write("var/lib/apt/lists/deb.bench_debian_dists_bookworm_InRelease",
      "Origin: Debian\nLabel: Debian\nSuite: stable\nCodename: bookworm\nVersion: 12.8\n"
      "Date: Tue, 01 Dec 2026 00:00:00 UTC\nComponents: main\nArchitectures: amd64\n")
write("var/lib/dpkg/arch", "amd64\n")
description = (" A synthetic package of the benchmark, with a description as long as a\n"
               " typical Debian one: two or three lines of text that dpkg keeps in its\n"
               " status file for every installed package.\n")
# dpkg itself and unattended-upgrades: the posture and patch reports look for them.
names = ["dpkg", "unattended-upgrades"] + [f"pkg-{i:06d}-bench" for i in range(n - 2)]
lists = "var/lib/apt/lists/deb.bench_debian_dists_bookworm_main_binary-amd64_Packages"
with open(os.path.join(root, "var/lib/dpkg/status"), "w") as status, \
        open(os.path.join(root, lists), "w") as packages:
    for i, name in enumerate(names):
        version = f"1.{i % 97}.{i % 13}-1"
        candidate = version if i % 10 else f"1.{i % 97}.{i % 13}-2"
        status.write(
            f"Package: {name}\nStatus: install ok installed\nPriority: optional\nSection: misc\n"
            f"Installed-Size: {100 + i % 900}\nMaintainer: Bench Maintainers <bench@example.org>\n"
            f"Architecture: amd64\nMulti-Arch: same\nSource: src-{i // 3:06d}\nVersion: {version}\n"
            f"Depends: libc6 (>= 2.34)\nDescription: synthetic package {i}\n{description}\n")
        packages.write(
            f"Package: {name}\nSource: src-{i // 3:06d}\nVersion: {candidate}\n"
            f"Installed-Size: {100 + i % 900}\nMaintainer: Bench Maintainers <bench@example.org>\n"
            f"Architecture: amd64\nMulti-Arch: same\nDepends: libc6 (>= 2.34)\n"
            f"Description: synthetic package {i}\nDescription-md5: 0123456789abcdef0123456789abcdef\n"
            f"Section: misc\nPriority: optional\nFilename: pool/main/p/{name}_{candidate}_amd64.deb\n"
            f"Size: {1000 + i}\nSHA256: {'0123456789abcdef' * 4}\n\n")
write("apt-test.conf",
      f'Dir "{root}/";\nDir::State::status "{root}/var/lib/dpkg/status";\nDir::Cache "{root}/cache/";\n'
      f'Dir::Cache::pkgcache "{root}/cache/pkgcache.bin";\n'
      f'Dir::Cache::srcpkgcache "{root}/cache/srcpkgcache.bin";\nDebug::NoLocking "true";\n')
