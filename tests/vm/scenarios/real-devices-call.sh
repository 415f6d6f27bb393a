# One station on real drivers (vivid camera, snd-aloop, bochs KMS) calls a test-device
# station in the same guest; prints both stations' media figures. Run from the repo:
#   GST_REGISTRY=$PWD/target/gst-registry.bin gst-inspect-1.0 >/dev/null
#   tests/vm/boot-guest target/vm "$(cat tests/vm/scenarios/real-devices-call.sh)"
set -ex
modprobe vivid n_devs=1 && modprobe snd-aloop && modprobe bochs
export GST_REGISTRY=$PWD/target/gst-registry.bin GST_REGISTRY_UPDATE=no DOORWAY_LOG=info,rsipstack=warn
cat > /tmp/a.toml <<T
[station]
name = "Door"
user = "door"
listen = "127.0.0.1:5070"
control_socket = "/tmp/a.sock"
[[contact]]
name = "Hall"
uri = "sip:hall@127.0.0.1:5072"
[devices]
camera = "v4l2:/dev/video0"
microphone = "alsa:plughw:CARD=Loopback,DEV=1"
speaker = "alsa:plughw:CARD=Loopback,DEV=0"
display = "drm"
[input]
backend = "none"
T
cat > /tmp/b.toml <<T
[station]
name = "Hall"
user = "hall"
listen = "127.0.0.1:5072"
control_socket = "/tmp/b.sock"
[[contact]]
name = "Door"
uri = "sip:door@127.0.0.1:5070"
auto_answer = true
[input]
backend = "none"
T
D=$PWD/target/debug/doorway
$D run --config /tmp/a.toml > /tmp/a.log 2>&1 &
$D run --config /tmp/b.toml > /tmp/b.log 2>&1 &
for i in $(seq 1 100); do [ -S /tmp/a.sock ] && [ -S /tmp/b.sock ] && break; sleep 0.2; done
$D call Hall --socket /tmp/a.sock
sleep 12
$D status --json --socket /tmp/b.sock > /tmp/b.json; grep -E "frames_(sent|decoded)|samples_played|packets_received" /tmp/b.json
$D status --socket /tmp/a.sock
$D hangup --socket /tmp/a.sock
sleep 1
tail -20 /tmp/a.log
