#!/bin/bash -e
# pi-gen: install the doorway package (built by image/pi/build into files/) and the
# settings every doorway image shares.
install -m 0644 files/doorway.deb "${ROOTFS_DIR}/tmp/doorway.deb"
on_chroot <<CHROOT
apt-get install -y --no-install-recommends /tmp/doorway.deb
rm /tmp/doorway.deb
CHROOT
files/customize "${ROOTFS_DIR}"
