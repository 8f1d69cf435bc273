"""The .deb's life on the system through dpkg: what it ships, install (with apt-get -f for
missing dependencies), removal, and what removal leaves behind."""

import os
import subprocess
from pathlib import Path

PACKAGE = "woolly"
# Where an installed package could leave something: searched for "woolly" before the
# install and after the removal (the lists must be equal).
SYSTEM_ROOTS = ["/usr", "/etc", "/opt", "/var/lib/dpkg/info"]


class PackageError(RuntimeError):
    pass


# dpkg and apt-get change the system: as root directly, otherwise through sudo without a
# password prompt (a CI runner's user). The app itself runs as the invoking user.
AS_ROOT = [] if os.geteuid() == 0 else ["sudo", "-n"]


def run(*cmd, check=True):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise PackageError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")
    return proc


def deb_paths(deb):
    """Every path the .deb holds (dpkg-deb -c), as absolute paths, directories included."""
    paths = []
    for line in run("dpkg-deb", "-c", str(deb)).stdout.splitlines():
        # "./usr/bin/x" or "usr/bin/x" (Tauri's bundler writes no "./").
        name = os.path.normpath("/" + line.split(maxsplit=5)[5].split(" -> ")[0])
        if name != "/":
            paths.append(name)
    return paths


def deb_field(deb, field):
    return run("dpkg-deb", "-f", str(deb), field).stdout.strip()


def status(package=PACKAGE):
    """dpkg's status of the package ("install ok installed"), or None when dpkg does not
    know it (never installed, or removed and purged of all its files)."""
    proc = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def is_installed(package=PACKAGE):
    return status(package) == "install ok installed"


def install(deb):
    """dpkg -i; where dependencies are missing, apt-get -f install brings them (and
    configures the package)."""
    proc = run(*AS_ROOT, "dpkg", "-i", str(deb), check=False)
    if proc.returncode != 0:
        run(*AS_ROOT, "apt-get", "-f", "install", "-y", "-qq", "--no-install-recommends")
    if not is_installed():
        raise PackageError(f"{deb} did not install: status {status()!r}\n{proc.stdout}{proc.stderr}")


def listed_files(package=PACKAGE):
    """dpkg -L: what dpkg recorded as installed by the package."""
    return [p for p in run("dpkg", "-L", package).stdout.splitlines() if p not in ("", "/.")]


def installed_size_kib(package=PACKAGE):
    return int(run("dpkg-query", "-W", "-f=${Installed-Size}", package).stdout)


def remove(package=PACKAGE):
    run(*AS_ROOT, "dpkg", "-r", package)


def purge(package=PACKAGE):
    """Clean-up after a failed run: nothing of the package stays installed."""
    run(*AS_ROOT, "dpkg", "--purge", package, check=False)


def woolly_names():
    """Every path under SYSTEM_ROOTS whose name mentions woolly (case-insensitive)."""
    found = run("find", *SYSTEM_ROOTS, "-iname", "*woolly*", check=False).stdout
    return sorted(found.split())


def leftovers(listed, existed_before):
    """Paths of the package still on disk after its removal: every listed path that did not
    exist before the install (shared directories such as /usr/share/icons may stay)."""
    return [p for p in listed if p not in existed_before and (Path(p).exists() or Path(p).is_symlink())]
