# The emulated station's agent, run inside the guest (from the chroot of the host root):
# it reads one shell command per line from the virtio-serial port named "agent", runs
# it, and answers with its output followed by a line "@@exit N". The host's test
# harness (tests/vm/harness.rs) drives a station through it.
modprobe virtio_console
port=
for i in $(seq 1 50); do
  for n in /sys/class/virtio-ports/*/name; do
    [ "$(cat "$n" 2>/dev/null)" = agent ] && port=/dev/$(basename "$(dirname "$n")")
  done
  [ -n "$port" ] && [ -e "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "agent: no virtio-serial port named agent"; exit 1; }
exec 3<>"$port"
echo "@@ready $(cut -d' ' -f1 /proc/uptime)" >&3
while read -r line <&3; do
  sh -c "$line" </dev/null >&3 2>&1
  echo "@@exit $?" >&3
done
