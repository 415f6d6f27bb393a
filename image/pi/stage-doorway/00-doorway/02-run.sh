#!/bin/bash -e
# pi-gen: a quiet, fast boot with the console off the screen, and the camera and display
# overlays on.
boot="${ROOTFS_DIR}/boot/firmware"
files/boot-config "${boot}/config.txt" "${boot}/cmdline.txt"
